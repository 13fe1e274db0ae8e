import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

export interface SseOptions {
  heartbeatMs: number;
  /** Bytes queued for a slow client before it is cut off with a resume hint. */
  maxBufferedBytes: number;
  /** Extra headers (CORS, request id) to send with the stream. */
  headers?: Record<string, string>;
}

/**
 * One Server-Sent Events response. Framing follows the WHATWG EventSource format; a client that reads
 * too slowly is closed with a `retry:` hint instead of growing our memory, and resumes with Last-Event-ID.
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
    this.res.write('retry: 2000\n\n');
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
    if (this.closedFlag) return;
    this.res.write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${data}\n\n`);
    // The client stopped reading: drop it (it resumes from its last id) rather than buffer without bound.
    if (this.res.writableLength > this.opts.maxBufferedBytes) {
      this.res.destroy();
      this.finish();
    }
  }

  comment(text: string): void {
    if (!this.closedFlag) this.res.write(`: ${text}\n\n`);
  }

  /** Ends the stream; with `retryMs`, tells the client when to reconnect (it resumes from its last id). */
  end(retryMs?: number): void {
    if (this.closedFlag) return;
    if (retryMs !== undefined) this.res.write(`retry: ${retryMs}\n\n`);
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
 * The open SSE streams of this process. On shutdown every stream ends with a `retry:` hint, and a stream
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
