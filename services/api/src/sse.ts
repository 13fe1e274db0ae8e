import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

export interface SseOptions {
  heartbeatMs: number;
  /** Bytes queued for a slow client before it is cut off with a resume hint. */
  maxBufferedBytes: number;
  /** Extra headers (CORS, request id) to send with the stream. */
  headers?: Record<string, string>;
  /**
   * The reconnect delay announced first (an EventSource waits this long before resuming); null announces
   * none and keeps `retry:` lines out of the stream altogether, as OpenAI's `data:`-only framing wants.
   */
  retryMs?: number | null;
  /**
   * The stream's last words when it is ended from outside (shutdown, Redis lost) rather than by its route:
   * a stream that cannot be resumed says why it stops (an OpenAI stream: an error chunk and `[DONE]`).
   */
  onInterrupt?: (stream: SseStream) => void;
}

/**
 * One Server-Sent Events response, the one writer of every stream the api serves: job events (named
 * events with ids, resumable with Last-Event-ID) and OpenAI completion chunks (`data:` lines only). A
 * client that reads too slowly is cut off instead of growing our memory; heartbeats keep proxies from
 * closing a quiet line; shutdown ends every stream (see SseRegistry).
 */
export class SseStream {
  private readonly res: ServerResponse;
  private readonly heartbeat: NodeJS.Timeout;
  private closedFlag = false;
  private readonly onCloseHandlers: (() => void)[] = [];

  constructor(
    reply: FastifyReply,
    private readonly opts: SseOptions,
  ) {
    reply.hijack();
    this.res = reply.raw;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
      ...opts.headers,
    });
    const retryMs = opts.retryMs === undefined ? 2_000 : opts.retryMs;
    if (retryMs !== null) this.res.write(`retry: ${retryMs}\n\n`);
    this.heartbeat = setInterval(() => this.comment('ping'), opts.heartbeatMs);
    this.heartbeat.unref();
    this.res.on('close', () => this.finish());
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  onClose(fn: () => void): void {
    if (this.closedFlag) fn();
    else this.onCloseHandlers.push(fn);
  }

  /** `data` is already JSON text (stored that way), so it is written without parsing again. */
  send(event: string, data: string, id?: string): void {
    this.write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${data}\n\n`);
  }

  /** An unnamed event: just `data: <text>` (OpenAI's framing). `text` holds no newline (JSON or `[DONE]`). */
  data(text: string): void {
    this.write(`data: ${text}\n\n`);
  }

  private write(frame: string): void {
    if (this.closedFlag) return;
    this.res.write(frame);
    // The client stopped reading: drop it (it resumes from its last id) rather than buffer without bound.
    if (this.res.writableLength > this.opts.maxBufferedBytes) {
      this.res.destroy();
      this.finish();
    }
  }

  comment(text: string): void {
    if (!this.closedFlag) this.res.write(`: ${text}\n\n`);
  }

  /**
   * Ends the stream. With `retryMs` it is ended from outside (shutdown, Redis lost): a resumable stream
   * tells the client when to reconnect (it resumes from its last id); one with `onInterrupt` says its last
   * words instead.
   */
  end(retryMs?: number): void {
    if (this.closedFlag) return;
    if (retryMs !== undefined) {
      if (this.opts.onInterrupt) this.opts.onInterrupt(this);
      else if (this.opts.retryMs !== null) this.res.write(`retry: ${retryMs}\n\n`);
    }
    if (this.closedFlag) return;
    this.res.end();
    this.finish();
  }

  private finish(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    clearInterval(this.heartbeat);
    for (const fn of this.onCloseHandlers.splice(0)) fn();
  }
}

/**
 * The open SSE streams of this process (job events and OpenAI completions alike): `gateway_sse_clients`
 * counts them, and shutdown ends them. On shutdown every stream ends with a `retry:` hint, and a stream
 * that opens after that is ended at once: clients reconnect to another instance and resume from their
 * last event id.
 */
export class SseRegistry {
  private readonly streams = new Set<SseStream>();
  private draining: number | null = null;

  get size(): number {
    return this.streams.size;
  }

  add(stream: SseStream): void {
    if (this.draining !== null) {
      stream.end(this.draining);
      return;
    }
    this.streams.add(stream);
    stream.onClose(() => this.streams.delete(stream));
  }

  /** Ends the streams open now (their events source went away); new ones may still open. */
  endOpen(retryMs: number): void {
    for (const s of [...this.streams]) s.end(retryMs);
  }

  endAll(retryMs: number): void {
    this.draining = retryMs;
    this.endOpen(retryMs);
  }
}

/** Every open SSE stream of this process, so that shutdown can end them and metrics can count them. */
export const activeStreams = new SseRegistry();

/** The headers a route set before it took the response over (CORS, helmet, its own), as strings. */
export function headersOf(reply: FastifyReply): Record<string, string> {
  const out: Record<string, string> = { 'x-request-id': String(reply.request.id) };
  for (const [k, v] of Object.entries(reply.getHeaders())) {
    if (typeof v === 'string' || typeof v === 'number') out[k] = String(v);
  }
  return out;
}
