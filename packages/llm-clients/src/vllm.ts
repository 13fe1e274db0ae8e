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
  FinishReason,
  LlmClient,
  ModelInfo,
  StreamOptions,
  Usage,
} from './types.js';

const SERVICE = 'vllm';

/** The /v1/chat/completions body. `stream_options` without `stream: true` is a 400 in vLLM. */
export function vllmChatBody(req: ChatRequest, stream: boolean): Record<string, unknown> {
  return {
    ...compact({
      model: req.model,
      messages: wireMessages(req.messages),
      max_tokens: req.maxTokens,
      temperature: req.temperature,
      top_p: req.topP,
      stop: req.stop,
      seed: req.seed,
    }),
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : { stream: false }),
  };
}

function usageFrom(u: unknown): Usage | undefined {
  if (!isRecord(u)) return undefined;
  return usageOf(u['prompt_tokens'], u['completion_tokens'], u['total_tokens']);
}

export function parseVllmChat(body: Record<string, unknown>, fallbackModel: string): ChatResult {
  const choice = Array.isArray(body['choices']) ? body['choices'][0] : undefined;
  if (!isRecord(choice) || !isRecord(choice['message'])) {
    throw malformed(SERVICE, 'chat completion without choices[0].message');
  }
  const content = choice['message']['content'];
  if (content !== null && content !== undefined && typeof content !== 'string') {
    throw malformed(SERVICE, 'choices[0].message.content is not a string');
  }
  return {
    content: content ?? '',
    finishReason: finishOf(choice['finish_reason']),
    usage: usageFrom(body['usage']) ?? NO_USAGE,
    model: typeof body['model'] === 'string' ? body['model'] : fallbackModel,
  };
}

/** Folds SSE `data:` payloads into a result; kept apart from I/O so tests can drive it directly. */
export class VllmStreamState {
  content = '';
  finishReason: FinishReason | undefined;
  usage: Usage | undefined;
  done = false;

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
      if (!isRecord(choice) || (choice['index'] !== undefined && choice['index'] !== 0)) continue;
      const delta = choice['delta'];
      // Merged deltas and `length` finishes put text on the same chunk as finish_reason.
      if (isRecord(delta) && typeof delta['content'] === 'string' && delta['content'] !== '') {
        this.content += delta['content'];
        emitToken(this.onToken, delta['content']);
      }
      if (typeof choice['finish_reason'] === 'string') this.finishReason = finishOf(choice['finish_reason']);
    }
    const usage = usageFrom(chunk['usage']);
    if (usage) this.usage = usage;
  }

  result(): ChatResult {
    // A stream cut after the finish chunk still holds the whole text; without one it does not.
    if (this.finishReason === undefined) {
      throw streamError(
        SERVICE,
        this.done ? '[DONE] without a finish_reason' : 'stream ended before finishing',
      );
    }
    return {
      content: this.content,
      finishReason: this.finishReason,
      usage: this.usage ?? NO_USAGE,
      model: this.model,
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
