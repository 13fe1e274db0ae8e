import { GatewayError } from '@gateway/contracts';
import { isRecord, malformed, streamError, streamErrorMessage } from './errors.js';
import { emitToken, type HttpTransport, JSON_BODY_LIMIT, readBytes } from './http.js';
import { compact, finishOf, parseJsonObject, usageOf, wireMessages } from './json.js';
import { Utf8LineSplitter } from './lines.js';
import type {
  CallOptions,
  ChatMessage,
  ChatRequest,
  ChatResult,
  LlmClient,
  ModelInfo,
  StreamOptions,
} from './types.js';

const SERVICE = 'ollama';

/**
 * The /api/chat body. `stream` is always explicit (Ollama streams by default) and `num_ctx`
 * always sent (Ollama's default of 2048 silently drops the oldest messages).
 */
export function ollamaChatBody(
  req: ChatRequest,
  stream: boolean,
  contextTokens: number,
): Record<string, unknown> {
  return {
    model: req.model,
    messages: wireMessages(req.messages),
    stream,
    options: compact({
      num_predict: req.maxTokens,
      temperature: req.temperature,
      top_p: req.topP,
      stop: req.stop,
      seed: req.seed,
      num_ctx: req.numCtx ?? contextTokens,
    }),
  };
}

/** Text of one chat object; `/api/generate`-shaped objects carry `response` instead of `message`. */
function textOf(obj: Record<string, unknown>): string {
  const message = obj['message'];
  if (isRecord(message) && typeof message['content'] === 'string') return message['content'];
  return typeof obj['response'] === 'string' ? obj['response'] : '';
}

function finalResult(obj: Record<string, unknown>, content: string, fallbackModel: string): ChatResult {
  return {
    content,
    finishReason: finishOf(obj['done_reason']),
    usage: usageOf(obj['prompt_eval_count'], obj['eval_count']),
    model: typeof obj['model'] === 'string' ? obj['model'] : fallbackModel,
  };
}

export function parseOllamaChat(obj: Record<string, unknown>, fallbackModel: string): ChatResult {
  if (obj['error'] !== undefined) {
    throw new GatewayError('backend_server_error', `${SERVICE} 200: ${streamErrorMessage(obj['error'])}`, {
      details: { status: 200, backend: SERVICE },
    });
  }
  if (obj['done'] !== true) throw malformed(SERVICE, 'non-streaming chat reply without done:true');
  return finalResult(obj, textOf(obj), fallbackModel);
}

/** Folds NDJSON lines into a result; kept apart from I/O so tests can drive it directly. */
export class OllamaStreamState {
  content = '';
  private final: ChatResult | undefined;

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
    if (obj['done'] === true) this.final = finalResult(obj, this.content, this.model);
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
  ) {}

  chat(req: ChatRequest, opts: CallOptions = {}): Promise<ChatResult> {
    return this.http.exchange(
      {
        method: 'POST',
        path: '/api/chat',
        json: ollamaChatBody(req, false, this.contextTokens),
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

  chatStream(req: ChatRequest, opts: StreamOptions): Promise<ChatResult> {
    return this.http.exchange(
      {
        method: 'POST',
        path: '/api/chat',
        json: ollamaChatBody(req, true, this.contextTokens),
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

  /** Ollama has no tokenize endpoint. */
  async countTokens(_model: string, _messages: ChatMessage[], _opts?: CallOptions): Promise<number | null> {
    return null;
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
