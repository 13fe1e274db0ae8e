import { GatewayError, isGatewayError } from '@gateway/contracts';
import { Pool } from 'undici';
import { malformed, parseBackendError } from './errors.js';
import { LineTooLongError } from './lines.js';
import { cancelled, mapTransportError, timedOut } from './transport-errors.js';
import type { LlmService } from './types.js';

/** What a 2xx body must look like; checked on the content-type before reading. */
export type Expect = 'json' | 'sse' | 'ndjson' | 'none';

export interface ResponseMeta {
  status: number;
  contentType: string;
}

export interface ExchangeSpec<T> {
  method: 'GET' | 'POST';
  path: string;
  json?: unknown;
  expect: Expect;
  /** A stream: a connection lost mid-body means the generation was dropped, not that the backend is down. */
  streaming?: boolean;
  /**
   * A non-streaming chat sends its headers only once the whole reply is generated, so the
   * idle timeout must not apply to the first byte there; the overall deadline still does.
   */
  slowFirstByte?: boolean;
  /** Health checks: any non-2xx means "not serving", even a 503 that elsewhere means "busy". */
  unhealthyIsUnavailable?: boolean;
  read: (body: AsyncIterable<Uint8Array>, meta: ResponseMeta) => Promise<T>;
}

export interface TransportOptions {
  service: LlmService;
  baseUrl: string;
  timeoutMs: number;
  idleTimeoutMs: number;
  connections: number;
  apiKey?: string | undefined;
}

/** Error bodies are only read for their message; a proxy page bigger than this is cut. */
const ERROR_BODY_LIMIT = 64 * 1024;
/** Whole non-streaming JSON bodies; far above any chat reply or model list. */
export const JSON_BODY_LIMIT = 16 * 1024 * 1024;

function contentTypeOk(expect: Expect, contentType: string): boolean {
  if (expect === 'none' || contentType === '') return true;
  const ct = contentType.toLowerCase();
  if (expect === 'sse') return ct.includes('text/event-stream');
  // Covers application/json, application/x-ndjson and application/jsonl.
  return ct.includes('json');
}

/** Reads at most `limit` bytes; `onOverflow` decides whether more is an error or just cut off. */
export async function readBytes(
  body: AsyncIterable<Uint8Array>,
  limit: number,
  onOverflow: 'throw' | 'truncate',
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      if (onOverflow === 'throw') throw new LineTooLongError(limit, 'body');
      parts.push(Buffer.from(chunk.subarray(0, chunk.length - (size - limit))));
      break;
    }
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts);
}

/** Wraps what the caller's onToken threw, so it reaches the caller as-is and is never taken for a backend fault. */
export class CallbackError {
  constructor(readonly error: unknown) {}
}

export function emitToken(onToken: (delta: string) => void, delta: string): void {
  try {
    onToken(delta);
  } catch (err) {
    throw new CallbackError(err);
  }
}

/** One undici Pool per backend: keep-alive sockets, at most `connections` of them. */
export class HttpTransport {
  readonly service: LlmService;
  private readonly pool: Pool;
  private readonly prefix: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly opts: TransportOptions) {
    this.service = opts.service;
    const url = new URL(opts.baseUrl);
    this.prefix = url.pathname.replace(/\/+$/, '');
    // undici's default keepAliveTimeout (4 s) stays below uvicorn's 5 s, so we never reuse a
    // socket the server is about to close.
    this.pool = new Pool(url.origin, { connections: opts.connections });
    this.headers = { accept: 'application/json, text/event-stream, application/x-ndjson' };
    if (opts.apiKey) this.headers['authorization'] = `Bearer ${opts.apiKey}`;
  }

  async exchange<T>(spec: ExchangeSpec<T>, callerSignal?: AbortSignal): Promise<T> {
    const { service } = this;
    if (callerSignal?.aborted) throw cancelled(service, callerSignal.reason);
    const deadline = AbortSignal.timeout(this.opts.timeoutMs);
    const signal = callerSignal ? AbortSignal.any([callerSignal, deadline]) : deadline;
    const classify = (err: unknown, phase: 'request' | 'body'): unknown => {
      if (callerSignal?.aborted) return cancelled(service, err);
      if (err instanceof CallbackError) return err.error;
      if (isGatewayError(err)) return err;
      if (deadline.aborted) return timedOut(service, this.opts.timeoutMs, err);
      return mapTransportError(err, service, phase === 'body' && spec.streaming === true);
    };

    const work = (async () => {
      let res: Awaited<ReturnType<Pool['request']>>;
      try {
        res = await this.pool.request({
          method: spec.method,
          path: this.prefix + spec.path,
          headers:
            spec.json === undefined ? this.headers : { ...this.headers, 'content-type': 'application/json' },
          body: spec.json === undefined ? null : JSON.stringify(spec.json),
          signal,
          // undici checks these on a ~0.5 s tick, so they fire up to ~1 s late; the deadline
          // above is a precise timer.
          headersTimeout: spec.slowFirstByte ? this.opts.timeoutMs : this.opts.idleTimeoutMs,
          bodyTimeout: this.opts.idleTimeoutMs,
        });
      } catch (err) {
        throw classify(err, 'request');
      }
      const { statusCode: status, body } = res;
      const contentType = headerValue(res.headers['content-type']);
      try {
        if (status < 200 || status >= 300) {
          const text = (await readBytes(body, ERROR_BODY_LIMIT, 'truncate')).toString('utf8');
          const err = parseBackendError(status, text, service, { retryAfter: res.headers['retry-after'] });
          if (!spec.unhealthyIsUnavailable) throw err;
          throw new GatewayError('backend_unavailable', `${err.message} (health check)`, {
            details: err.details,
            ...(err.retryAfter === undefined ? {} : { retryAfter: err.retryAfter }),
          });
        }
        if (!contentTypeOk(spec.expect, contentType)) {
          throw malformed(service, `unexpected content-type "${contentType}" for ${spec.path}`, status);
        }
        return await spec.read(body, { status, contentType });
      } catch (err) {
        // undici keeps the socket busy until the body is consumed or destroyed. Destroying an
        // unfinished body makes it emit an AbortError nobody else is listening for.
        if (!body.destroyed) body.on('error', () => {}).destroy();
        throw classify(err, 'body');
      }
    })();

    return raceAbort(work, signal, () => classify(signal.reason, 'body'));
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/**
 * undici usually rejects promptly on abort, but a read blocked in user code or a stalled
 * parser must not delay the caller: the abort wins the race and `work` settles in the background.
 */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal, onAbort: () => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    if (signal.aborted) abort();
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err);
      },
    );
  });
}

function headerValue(v: string | string[] | undefined): string {
  return (Array.isArray(v) ? v[0] : v) ?? '';
}
