import { GatewayError, isGatewayError } from '@gateway/contracts';
import { Agent, type Dispatcher, request } from 'undici';

/** HTTP to a TTS server, with errors typed like the LLM client's: 5xx, 429 and transport retryable, other 4xx not. */
export class TtsHttp {
  private readonly agent: Agent;

  constructor(
    readonly engine: string,
    private readonly baseUrl: string,
    timeoutMs: number,
    connections = 4,
  ) {
    this.agent = new Agent({
      connections,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      connectTimeout: Math.min(timeoutMs, 10_000),
    });
  }

  url(path: string): string {
    return new URL(path.replace(/^\//, ''), this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`)
      .href;
  }

  /** Sends a request; answers the response of a 2xx, throws a GatewayError for anything else. */
  async send(
    method: 'GET' | 'POST',
    path: string,
    opts: { json?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<Dispatcher.ResponseData> {
    const url = this.url(path);
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method,
        dispatcher: this.agent,
        headers: {
          ...(opts.json === undefined ? {} : { 'content-type': 'application/json' }),
          ...opts.headers,
        },
        ...(opts.json === undefined ? {} : { body: JSON.stringify(opts.json) }),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      throw this.transportError(err);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    const detail = await errorMessage(res);
    const message = `${this.engine} TTS answered ${res.statusCode} to ${method} ${path}: ${detail}`;
    if (res.statusCode >= 500 || res.statusCode === 429 || res.statusCode === 408) {
      throw new GatewayError('tts_unavailable', message, { details: { status: res.statusCode } });
    }
    throw new GatewayError('tts_failed', message, { details: { status: res.statusCode } });
  }

  /** The body as it arrives; a connection lost mid-way becomes a retryable error. */
  async *body(res: Dispatcher.ResponseData): AsyncIterable<Uint8Array> {
    try {
      for await (const chunk of res.body) yield chunk as Buffer;
    } catch (err) {
      throw this.transportError(err);
    }
  }

  transportError(err: unknown): GatewayError {
    if (isGatewayError(err)) return err;
    const code = codeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    return new GatewayError(
      'tts_unavailable',
      `${this.engine} TTS at ${this.baseUrl}: ${message}${code ? ` (${code})` : ''}`,
      { cause: err },
    );
  }

  /** Drops a body that is not wanted, without an unhandled stream error. */
  async discard(res: Dispatcher.ResponseData): Promise<void> {
    await res.body.dump().catch(() => {});
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  if (err instanceof AggregateError) return codeOf(err.errors[0]);
  const cause = (err as { cause?: unknown }).cause;
  return cause === undefined ? undefined : codeOf(cause);
}

/** The server's own words about an error: OpenAI `{error:{message}}`, FastAPI `{detail}`, GPT-SoVITS `{message, Exception}`. */
async function errorMessage(res: Dispatcher.ResponseData): Promise<string> {
  let text = '';
  try {
    for await (const chunk of res.body) {
      if (text.length < 4_000) text += (chunk as Buffer).toString('utf8');
    }
  } catch {
    // the status says enough
  }
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    const err = j.error;
    if (
      typeof err === 'object' &&
      err !== null &&
      typeof (err as { message?: unknown }).message === 'string'
    ) {
      return (err as { message: string }).message;
    }
    if (typeof err === 'string') return err;
    if (typeof j.detail === 'string') return j.detail;
    if (j.detail !== undefined) return JSON.stringify(j.detail).slice(0, 500);
    if (typeof j.message === 'string') {
      return typeof j.Exception === 'string' ? `${j.message}: ${j.Exception}` : j.message;
    }
  } catch {
    // not JSON
  }
  return text.trim().slice(0, 500) || 'no details';
}
