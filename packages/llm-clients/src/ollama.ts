import { randomUUID } from 'node:crypto';
import { GatewayError } from '@gateway/contracts';
import { isRecord, malformed, streamError, streamErrorMessage } from './errors.js';
import { emitToken, type HttpTransport, JSON_BODY_LIMIT, readBytes } from './http.js';
import { compact, finishOf, parseJsonObject, usageOf } from './json.js';
import { Utf8LineSplitter } from './lines.js';
import type {
  CallOptions,
  ChatMessage,
  ChatRequest,
  ChatResult,
  ChoiceResult,
  LlmClient,
  ModelInfo,
  StreamOptions,
  ToolCall,
} from './types.js';

const SERVICE = 'ollama';

/**
 * Ollama's message shape: no `name` (it is written into the text as "Name: …"), tool-call arguments as
 * objects rather than JSON text, and a tool result names its tool by `tool_name`.
 */
export function ollamaMessages(messages: ChatMessage[]): Record<string, unknown>[] {
  const toolNames = new Map<string, string>();
  return messages.map((m) => {
    const out: Record<string, unknown> = {
      role: m.role,
      content: m.name && m.role !== 'tool' ? `${m.name}: ${m.content}` : m.content,
    };
    if (m.tool_calls) {
      out['tool_calls'] = m.tool_calls.filter(isRecord).map((c) => {
        const fn = isRecord(c['function']) ? c['function'] : {};
        const name = typeof fn['name'] === 'string' ? fn['name'] : '';
        if (typeof c['id'] === 'string') toolNames.set(c['id'], name);
        return { function: { name, arguments: argumentsObject(fn['arguments']) } };
      });
    }
    if (m.role === 'tool') {
      const name = (m.tool_call_id && toolNames.get(m.tool_call_id)) || m.name;
      if (name) out['tool_name'] = name;
    }
    return out;
  });
}

function argumentsObject(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw ?? {};
  try {
    return JSON.parse(raw);
  } catch {
    return {};
  }
}

/** OpenAI `response_format` as Ollama's `format`: "json", or the JSON schema itself. */
export function ollamaFormat(rf: Record<string, unknown> | undefined): unknown {
  if (!rf) return undefined;
  if (rf['type'] === 'json_object') return 'json';
  if (rf['type'] === 'json_schema') {
    const js = rf['json_schema'];
    return isRecord(js) && isRecord(js['schema']) ? js['schema'] : 'json';
  }
  return undefined;
}

/**
 * The /api/chat body. `stream` is always explicit (Ollama streams by default) and `num_ctx`
 * always sent (Ollama's default of 2048 silently drops the oldest messages). Sampler fields go in
 * `options` under Ollama's names; a final assistant message is continued by Ollama itself (prefill).
 */
export function ollamaChatBody(
  req: ChatRequest,
  stream: boolean,
  contextTokens: number,
  keepAlive?: string | number,
): Record<string, unknown> {
  const s = req.sampling ?? {};
  return compact({
    model: req.model,
    messages: ollamaMessages(req.messages),
    stream,
    keep_alive: keepAlive,
    format: ollamaFormat(req.responseFormat),
    // tool_choice "none": the model is not offered the tools (Ollama has no tool_choice).
    tools: req.toolChoice === 'none' ? undefined : req.tools,
    logprobs: s.logprobs,
    top_logprobs: s.logprobs ? s.topLogprobs : undefined,
    options: compact({
      num_predict: req.maxTokens,
      temperature: req.temperature,
      top_p: req.topP,
      top_k: s.topK === -1 ? 0 : s.topK,
      min_p: s.minP,
      repeat_penalty: s.repetitionPenalty,
      presence_penalty: s.presencePenalty,
      frequency_penalty: s.frequencyPenalty,
      stop: req.stop,
      seed: req.seed,
      num_ctx: req.numCtx ?? contextTokens,
    }),
  });
}

/** Ollama's `logprobs` list already has OpenAI's entry shape (token, logprob, bytes, top_logprobs). */
function logprobsOf(raw: unknown): unknown[] | undefined {
  return Array.isArray(raw) && raw.length > 0 ? raw : undefined;
}

function toolCallsOf(message: unknown): ToolCall[] | undefined {
  if (!isRecord(message) || !Array.isArray(message['tool_calls'])) return undefined;
  const calls = message['tool_calls'].filter(isRecord).map((c, i): ToolCall => {
    const fn = isRecord(c['function']) ? c['function'] : {};
    const args = fn['arguments'];
    return {
      id:
        typeof c['id'] === 'string' && c['id'] !== ''
          ? c['id']
          : `call_${randomUUID().replaceAll('-', '').slice(0, 24)}_${i}`,
      type: 'function',
      function: {
        name: typeof fn['name'] === 'string' ? fn['name'] : '',
        arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}),
      },
    };
  });
  return calls.length > 0 ? calls : undefined;
}

/** Text of one chat object; `/api/generate`-shaped objects carry `response` instead of `message`. */
function textOf(obj: Record<string, unknown>): string {
  const message = obj['message'];
  if (isRecord(message) && typeof message['content'] === 'string') return message['content'];
  return typeof obj['response'] === 'string' ? obj['response'] : '';
}

function finalResult(
  obj: Record<string, unknown>,
  content: string,
  fallbackModel: string,
  extra: { logprobs?: unknown[] | undefined; toolCalls?: ToolCall[] | undefined } = {},
): ChatResult {
  return {
    content,
    finishReason: finishOf(obj['done_reason']),
    usage: usageOf(obj['prompt_eval_count'], obj['eval_count']),
    model: typeof obj['model'] === 'string' ? obj['model'] : fallbackModel,
    ...(extra.logprobs ? { logprobs: { content: extra.logprobs } } : {}),
    ...(extra.toolCalls ? { toolCalls: extra.toolCalls } : {}),
  };
}

export function parseOllamaChat(obj: Record<string, unknown>, fallbackModel: string): ChatResult {
  if (obj['error'] !== undefined) {
    throw new GatewayError('backend_server_error', `${SERVICE} 200: ${streamErrorMessage(obj['error'])}`, {
      details: { status: 200, backend: SERVICE },
    });
  }
  if (obj['done'] !== true) throw malformed(SERVICE, 'non-streaming chat reply without done:true');
  return finalResult(obj, textOf(obj), fallbackModel, {
    logprobs: logprobsOf(obj['logprobs']),
    toolCalls: toolCallsOf(obj['message']),
  });
}

/** Folds NDJSON lines into a result; kept apart from I/O so tests can drive it directly. */
export class OllamaStreamState {
  content = '';
  private final: ChatResult | undefined;
  private logprobs: unknown[] | undefined;
  private toolCalls: ToolCall[] | undefined;

  constructor(
    private readonly model: string,
    private readonly onToken: (delta: string) => void,
  ) {}

  handle(line: string): void {
    if (this.final || line.trim() === '') return;
    const obj = parseJsonObject(line, SERVICE, 'stream line');
    // Status is already 200 when generation fails; the error comes as its own line.
    if (obj['error'] !== undefined) throw streamError(SERVICE, streamErrorMessage(obj['error']));
    const delta = textOf(obj);
    if (delta !== '') {
      this.content += delta;
      emitToken(this.onToken, delta);
    }
    const lp = logprobsOf(obj['logprobs']);
    if (lp) this.logprobs = [...(this.logprobs ?? []), ...lp];
    const calls = toolCallsOf(obj['message']);
    if (calls) this.toolCalls = [...(this.toolCalls ?? []), ...calls];
    if (obj['done'] === true) {
      this.final = finalResult(obj, this.content, this.model, {
        logprobs: this.logprobs,
        toolCalls: this.toolCalls,
      });
    }
  }

  result(): ChatResult {
    if (!this.final) throw streamError(SERVICE, 'stream ended without done:true');
    return this.final;
  }
}

export class OllamaClient implements LlmClient {
  readonly service = SERVICE;

  constructor(
    readonly baseUrl: string,
    private readonly http: HttpTransport,
    private readonly maxLineBytes: number,
    private readonly contextTokens: number,
    private readonly keepAlive?: string | number,
  ) {}

  chat(req: ChatRequest, opts: CallOptions = {}): Promise<ChatResult> {
    return this.runs(req, opts.signal, (r, _i, signal) => this.chatOnce(r, { ...opts, signal }));
  }

  chatStream(req: ChatRequest, opts: StreamOptions): Promise<ChatResult> {
    // Only the first run streams; the client sees the others when the whole result is there.
    return this.runs(req, opts.signal, (r, i, signal) =>
      i === 0 ? this.streamOnce(r, { ...opts, signal }) : this.chatOnce(r, { ...opts, signal }),
    );
  }

  /**
   * Ollama has no `n`: n choices are n runs of the same request, all at once, as vLLM generates its n
   * sequences side by side (the worker holds n of the server's cap for them; OLLAMA_NUM_PARALLEL below n
   * queues the rest at the server). Each run gets its own seed when one was given (seed + i), or every
   * run would say the same. The first failure stops the other runs and is the error of the whole.
   */
  private async runs(
    req: ChatRequest,
    signal: AbortSignal | undefined,
    run: (r: ChatRequest, i: number, signal: AbortSignal | undefined) => Promise<ChatResult>,
  ): Promise<ChatResult> {
    const n = req.n ?? 1;
    if (n <= 1) return run(req, 0, signal);
    const stop = new AbortController();
    const each = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        run(i === 0 || req.seed === undefined ? req : { ...req, seed: req.seed + i }, i, each).catch(
          (err: unknown) => {
            stop.abort(err);
            throw err;
          },
        ),
      ),
    );
    const first = results[0]!;
    const completion = results.reduce((sum, r) => sum + r.usage.completionTokens, 0);
    return {
      ...first,
      usage: {
        promptTokens: first.usage.promptTokens,
        completionTokens: completion,
        totalTokens: first.usage.promptTokens + completion,
      },
      choices: results.map(
        ({ content, finishReason, logprobs, toolCalls }) =>
          compact({ content, finishReason, logprobs, toolCalls }) as ChoiceResult,
      ),
    };
  }

  private chatOnce(req: ChatRequest, opts: CallOptions): Promise<ChatResult> {
    return this.http.exchange(
      {
        method: 'POST',
        path: '/api/chat',
        json: ollamaChatBody(req, false, this.contextTokens, this.keepAlive),
        expect: 'json',
        slowFirstByte: true,
        read: async (body) => {
          const text = (await readBytes(body, JSON_BODY_LIMIT, 'throw')).toString('utf8');
          return parseOllamaChat(parseJsonObject(text, SERVICE, 'chat reply'), req.model);
        },
      },
      opts.signal,
    );
  }

  private streamOnce(req: ChatRequest, opts: StreamOptions): Promise<ChatResult> {
    return this.http.exchange(
      {
        method: 'POST',
        path: '/api/chat',
        json: ollamaChatBody(req, true, this.contextTokens, this.keepAlive),
        expect: 'ndjson',
        streaming: true,
        read: async (body) => {
          const state = new OllamaStreamState(req.model, opts.onToken);
          const lines = new Utf8LineSplitter(this.maxLineBytes);
          for await (const chunk of body) {
            for (const line of lines.push(chunk)) state.handle(line);
          }
          for (const line of lines.end()) state.handle(line);
          return state.result();
        },
      },
      opts.signal,
    );
  }

  listModels(opts: CallOptions = {}): Promise<ModelInfo[]> {
    return this.http.exchange(
      {
        method: 'GET',
        path: '/api/tags',
        expect: 'json',
        read: async (body) => {
          const text = (await readBytes(body, JSON_BODY_LIMIT, 'throw')).toString('utf8');
          const models = parseJsonObject(text, SERVICE, 'tag list')['models'];
          if (!Array.isArray(models)) throw malformed(SERVICE, 'tag list without a models array');
          return models.filter(isRecord).map((tag) => {
            const id = typeof tag['name'] === 'string' ? tag['name'] : tag['model'];
            if (typeof id !== 'string') throw malformed(SERVICE, 'tag without a name');
            const details = isRecord(tag['details']) ? tag['details'] : {};
            return {
              id,
              details: compact({
                ...details,
                size: tag['size'],
                digest: tag['digest'],
                modified_at: tag['modified_at'],
              }),
            };
          });
        },
      },
      opts.signal,
    );
  }

  health(opts: CallOptions = {}): Promise<void> {
    return this.http.exchange(
      {
        method: 'GET',
        path: '/api/version',
        expect: 'json',
        unhealthyIsUnavailable: true,
        read: async (body) => {
          // A 200 from something that is not Ollama (a proxy's default page) is not healthy.
          const text = (await readBytes(body, JSON_BODY_LIMIT, 'throw')).toString('utf8');
          const version = parseJsonObject(text, SERVICE, 'version reply')['version'];
          if (typeof version !== 'string') throw malformed(SERVICE, 'version reply without a version');
        },
      },
      opts.signal,
    );
  }

  /** Ollama's /api/tags does not report the context window. */
  async contextWindow(_model: string, _opts?: CallOptions): Promise<number | null> {
    return null;
  }

  /** Ollama has no tokenize endpoint. */
  async countTokens(_model: string, _messages: ChatMessage[], _opts?: CallOptions): Promise<number | null> {
    return null;
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
