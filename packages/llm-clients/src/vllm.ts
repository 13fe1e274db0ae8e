import { createParser } from 'eventsource-parser';
import { isRecord, malformed, streamError, streamErrorMessage } from './errors.js';
import { emitToken, type HttpTransport, JSON_BODY_LIMIT, readBytes } from './http.js';
import { compact, finishOf, NO_USAGE, parseJson, parseJsonObject, usageOf, wireMessages } from './json.js';
import { Utf8TextStream } from './lines.js';
import type {
  CallOptions,
  ChatMessage,
  ChatRequest,
  ChatResult,
  ChoiceResult,
  FinishReason,
  LlmClient,
  ModelInfo,
  StreamOptions,
  ToolCall,
  Usage,
} from './types.js';

const SERVICE = 'vllm';

/**
 * The /v1/chat/completions body. Every sampler field goes at the top level under OpenAI's or vLLM's own
 * name (vLLM docs, "Extra Parameters"). `stream_options` without `stream: true` is a 400 in vLLM.
 */
export function vllmChatBody(req: ChatRequest, stream: boolean): Record<string, unknown> {
  const s = req.sampling ?? {};
  return {
    ...compact({
      model: req.model,
      messages: wireMessages(req.messages),
      max_tokens: req.maxTokens,
      temperature: req.temperature,
      top_p: req.topP,
      top_k: s.topK,
      min_p: s.minP,
      repetition_penalty: s.repetitionPenalty,
      presence_penalty: s.presencePenalty,
      frequency_penalty: s.frequencyPenalty,
      logit_bias: s.logitBias,
      logprobs: s.logprobs,
      top_logprobs: s.topLogprobs,
      stop: req.stop,
      seed: req.seed,
      n: req.n !== undefined && req.n > 1 ? req.n : undefined,
      response_format: req.responseFormat,
      tools: req.tools,
      tool_choice: req.toolChoice,
    }),
    // vLLM refuses continue_final_message together with a generation prompt.
    ...(req.continueFinal ? { continue_final_message: true, add_generation_prompt: false } : {}),
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : { stream: false }),
  };
}

function toolCallsOf(raw: unknown): ToolCall[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0) return undefined;
  const calls: ToolCall[] = [];
  for (const c of raw) {
    if (!isRecord(c) || !isRecord(c['function'])) continue;
    const fn = c['function'];
    calls.push({
      id: typeof c['id'] === 'string' ? c['id'] : `call_${calls.length}`,
      type: 'function',
      function: {
        name: typeof fn['name'] === 'string' ? fn['name'] : '',
        arguments:
          typeof fn['arguments'] === 'string' ? fn['arguments'] : JSON.stringify(fn['arguments'] ?? {}),
      },
    });
  }
  return calls.length > 0 ? calls : undefined;
}

function logprobsOf(raw: unknown): { content: unknown[] } | undefined {
  return isRecord(raw) && Array.isArray(raw['content']) ? { content: raw['content'] } : undefined;
}

function choiceOf(choice: Record<string, unknown>, message: Record<string, unknown>): ChoiceResult {
  const content = message['content'];
  if (content !== null && content !== undefined && typeof content !== 'string') {
    throw malformed(SERVICE, 'choices[].message.content is not a string');
  }
  return compact({
    content: content ?? '',
    finishReason: finishOf(choice['finish_reason']),
    logprobs: logprobsOf(choice['logprobs']),
    toolCalls: toolCallsOf(message['tool_calls']),
  }) as ChoiceResult;
}

function usageFrom(u: unknown): Usage | undefined {
  if (!isRecord(u)) return undefined;
  return usageOf(u['prompt_tokens'], u['completion_tokens'], u['total_tokens']);
}

export function parseVllmChat(body: Record<string, unknown>, fallbackModel: string): ChatResult {
  const raw = Array.isArray(body['choices']) ? body['choices'] : [];
  const choices: ChoiceResult[] = [];
  for (const choice of raw) {
    if (!isRecord(choice) || !isRecord(choice['message'])) {
      throw malformed(SERVICE, 'chat completion without choices[].message');
    }
    const index = typeof choice['index'] === 'number' ? choice['index'] : choices.length;
    choices[index] = choiceOf(choice, choice['message']);
  }
  const first = choices[0];
  if (!first) throw malformed(SERVICE, 'chat completion without choices[0].message');
  return {
    ...first,
    usage: usageFrom(body['usage']) ?? NO_USAGE,
    model: typeof body['model'] === 'string' ? body['model'] : fallbackModel,
    ...(choices.length > 1 ? { choices: choices.filter(Boolean) } : {}),
  };
}

/** One choice of a stream, folded from its deltas. */
class ChoiceState {
  content = '';
  finishReason: FinishReason | undefined;
  logprobs: unknown[] | undefined;
  tools: { id: string; name: string; arguments: string }[] = [];

  add(choice: Record<string, unknown>, onText: ((t: string) => void) | null): void {
    const delta = choice['delta'];
    if (isRecord(delta)) {
      // Merged deltas and `length` finishes put text on the same chunk as finish_reason.
      if (typeof delta['content'] === 'string' && delta['content'] !== '') {
        this.content += delta['content'];
        onText?.(delta['content']);
      }
      // Tool calls stream as pieces keyed by `index`: the first names the call, later ones add arguments.
      if (Array.isArray(delta['tool_calls'])) {
        for (const t of delta['tool_calls']) {
          if (!isRecord(t)) continue;
          const i = typeof t['index'] === 'number' ? t['index'] : this.tools.length;
          const call = this.tools[i] ?? { id: '', name: '', arguments: '' };
          this.tools[i] = call;
          if (typeof t['id'] === 'string') call.id = t['id'];
          const fn = t['function'];
          if (isRecord(fn)) {
            if (typeof fn['name'] === 'string') call.name += fn['name'];
            if (typeof fn['arguments'] === 'string') call.arguments += fn['arguments'];
          }
        }
      }
    }
    const lp = logprobsOf(choice['logprobs']);
    if (lp) this.logprobs = [...(this.logprobs ?? []), ...lp.content];
    if (typeof choice['finish_reason'] === 'string') this.finishReason = finishOf(choice['finish_reason']);
  }

  result(): ChoiceResult | undefined {
    if (this.finishReason === undefined) return undefined;
    const calls = this.tools.filter(Boolean).map(
      (t, i): ToolCall => ({
        id: t.id || `call_${i}`,
        type: 'function',
        function: { name: t.name, arguments: t.arguments },
      }),
    );
    return compact({
      content: this.content,
      finishReason: this.finishReason,
      logprobs: this.logprobs ? { content: this.logprobs } : undefined,
      toolCalls: calls.length > 0 ? calls : undefined,
    }) as ChoiceResult;
  }
}

/** Folds SSE `data:` payloads into a result; kept apart from I/O so tests can drive it directly. */
export class VllmStreamState {
  private readonly choices: ChoiceState[] = [new ChoiceState()];
  usage: Usage | undefined;
  done = false;

  get content(): string {
    return this.choices[0]!.content;
  }

  constructor(
    public model: string,
    private readonly onToken: (delta: string) => void,
  ) {}

  handle(data: string): void {
    if (this.done) return;
    if (data === '[DONE]') {
      this.done = true;
      return;
    }
    const chunk = parseJson(data, SERVICE, 'stream event');
    if (!isRecord(chunk)) throw malformed(SERVICE, 'stream event is not a JSON object');
    // Current `{"error":{…}}` and legacy `{"error":{"object":"error",…}}` both land here.
    if (chunk['error'] !== undefined) throw streamError(SERVICE, streamErrorMessage(chunk['error']));
    if (typeof chunk['model'] === 'string') this.model = chunk['model'];
    // The usage chunk has `choices: []`; with --enable-force-include-usage every chunk has usage.
    const choices = Array.isArray(chunk['choices']) ? chunk['choices'] : [];
    for (const choice of choices) {
      if (!isRecord(choice)) continue;
      const index = typeof choice['index'] === 'number' ? choice['index'] : 0;
      if (!Number.isInteger(index) || index < 0 || index > 127) continue;
      // Only the first choice streams to the client as it is generated; the others come with the result.
      const state = this.choices[index] ?? new ChoiceState();
      this.choices[index] = state;
      state.add(choice, index === 0 ? (t) => emitToken(this.onToken, t) : null);
    }
    const usage = usageFrom(chunk['usage']);
    if (usage) this.usage = usage;
  }

  result(): ChatResult {
    // A stream cut after the finish chunk still holds the whole text; without one it does not.
    const results = this.choices.map((c) => c?.result());
    const first = results[0];
    if (first === undefined || results.some((r) => r === undefined)) {
      throw streamError(
        SERVICE,
        this.done ? '[DONE] without a finish_reason' : 'stream ended before finishing',
      );
    }
    return {
      ...first,
      usage: this.usage ?? NO_USAGE,
      model: this.model,
      ...(results.length > 1 ? { choices: results as ChoiceResult[] } : {}),
    };
  }
}

export class VllmClient implements LlmClient {
  readonly service = SERVICE;

  constructor(
    readonly baseUrl: string,
    private readonly http: HttpTransport,
    private readonly maxLineBytes: number,
  ) {}

  chat(req: ChatRequest, opts: CallOptions = {}): Promise<ChatResult> {
    return this.http.exchange(
      {
        method: 'POST',
        path: '/v1/chat/completions',
        json: vllmChatBody(req, false),
        expect: 'json',
        slowFirstByte: true,
        read: async (body) => {
          const text = (await readBytes(body, JSON_BODY_LIMIT, 'throw')).toString('utf8');
          return parseVllmChat(parseJsonObject(text, SERVICE, 'chat completion'), req.model);
        },
      },
      opts.signal,
    );
  }

  chatStream(req: ChatRequest, opts: StreamOptions): Promise<ChatResult> {
    return this.http.exchange(
      {
        method: 'POST',
        path: '/v1/chat/completions',
        json: vllmChatBody(req, true),
        expect: 'sse',
        streaming: true,
        read: async (body) => {
          const state = new VllmStreamState(req.model, opts.onToken);
          const text = new Utf8TextStream(this.maxLineBytes);
          const pending: string[] = [];
          // Events are queued and handled outside the parser callback, so a throw leaves the parser sane.
          const parser = createParser({ onEvent: (event) => pending.push(event.data) });
          const drain = () => {
            for (const data of pending.splice(0)) state.handle(data);
          };
          for await (const chunk of body) {
            parser.feed(text.push(chunk));
            drain();
          }
          parser.feed(text.end());
          drain();
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
        path: '/v1/models',
        expect: 'json',
        read: async (body) => {
          const text = (await readBytes(body, JSON_BODY_LIMIT, 'throw')).toString('utf8');
          const list = parseJsonObject(text, SERVICE, 'model list')['data'];
          if (!Array.isArray(list)) throw malformed(SERVICE, 'model list without a data array');
          return list.filter(isRecord).map((card) => {
            const { id, ...details } = card;
            if (typeof id !== 'string') throw malformed(SERVICE, 'model card without an id');
            return { id, details };
          });
        },
      },
      opts.signal,
    );
  }

  private window: { at: number; lens: Map<string, number> } | null = null;

  /**
   * The context window the server reports for `model` (`max_model_len` in `/v1/models`), asked at most
   * once a minute; null when the server does not say or cannot be asked.
   */
  async contextWindow(model: string, opts: CallOptions = {}): Promise<number | null> {
    if (!this.window || Date.now() - this.window.at > 60_000) {
      try {
        const models = await this.listModels(opts);
        const lens = new Map<string, number>();
        for (const m of models) {
          const len = m.details['max_model_len'];
          if (typeof len === 'number' && Number.isInteger(len) && len > 0) lens.set(m.id, len);
        }
        this.window = { at: Date.now(), lens };
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        return null;
      }
    }
    return this.window.lens.get(model) ?? null;
  }

  health(opts: CallOptions = {}): Promise<void> {
    return this.http.exchange(
      {
        method: 'GET',
        path: '/health',
        expect: 'none',
        unhealthyIsUnavailable: true,
        read: async (body) => {
          await readBytes(body, JSON_BODY_LIMIT, 'truncate');
        },
      },
      opts.signal,
    );
  }

  async countTokens(model: string, messages: ChatMessage[], opts: CallOptions = {}): Promise<number | null> {
    try {
      return await this.http.exchange(
        {
          method: 'POST',
          path: '/tokenize',
          json: { model, messages: wireMessages(messages) },
          expect: 'json',
          read: async (body) => {
            const text = (await readBytes(body, JSON_BODY_LIMIT, 'throw')).toString('utf8');
            const n = parseJsonObject(text, SERVICE, 'tokenize response')['count'];
            return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : null;
          },
        },
        opts.signal,
      );
    } catch (err) {
      // Token counts only refine prompt trimming; a caller's cancel is the one failure to report.
      if (opts.signal?.aborted) throw err;
      return null;
    }
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
