import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { parseConfig } from '@gateway/config';
import type { ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseStream } from '../../services/api/src/sse.js';
import { rssOf } from '../fuzz/raw-http.js';
import { guestSession, type TestSession } from '../support/auth.js';
import { call, readSse, tokensOf, waitFor } from '../support/http.js';
import { type RunningProcess, type Stack, startStack } from '../support/stack.js';

/**
 * Clients that open an event stream and never read must not grow the api's memory: each stream holds at
 * most SSE_MAX_BUFFERED_BYTES (default 256 KiB) of unsent bytes in the api (sse.ts); beyond that it is
 * cut and the client resumes later from its last event id. So N stalled clients cost at most N times
 * that (200 x 256 KiB = 50 MB) on top of the api's own memory; the kernel's socket buffers take the
 * first megabytes of each stream before the api holds any.
 */

const SLOW_CLIENTS = 200;
const JOBS = 10;
/** SLOW_SSE_TOKENS raises it for a heavier local run (30000 tokens push about 1.7 MB into each stream). */
const REPLY_TOKENS = Number(process.env.SLOW_SSE_TOKENS ?? 6_000);
/** The api's resident memory while 200 clients sit on streams they never read. */
const RSS_BOUND = 350 * 1024 * 1024;
const MiB = 1024 * 1024;

/** Sends the request and never reads a byte of the answer. */
function stalledClient(url: URL, path: string, token: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`,
      );
      socket.pause();
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

/**
 * Reads a stalled client's socket to the end of its response: the server closed the connection (a cut
 * stream) or sent the last chunk of the chunked body (a whole stream, on a connection kept alive).
 */
function drain(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const done = () => {
      socket.destroy();
      resolve(text);
    };
    socket.on('data', (c: Buffer) => {
      text += c.toString('utf8');
      if (text.endsWith('\r\n0\r\n\r\n')) done();
    });
    socket.on('close', done);
    socket.resume();
  });
}

describe('slow SSE clients', () => {
  it('cuts a stream once more than SSE_MAX_BUFFERED_BYTES wait unsent for its client, and never buffers more', async () => {
    const limit = parseConfig({}).http.sseMaxBufferedBytes;
    const app = Fastify();
    let sent = 0;
    let maxBuffered = 0;
    let stream: SseStream | null = null;
    const event = JSON.stringify({ delta: 'x'.repeat(16 * 1024) });
    app.get('/events', async (_req, reply) => {
      stream = new SseStream(reply, { heartbeatMs: 60_000, maxBufferedBytes: limit });
      const s = stream;
      // Writes as fast as the loop allows, like a fast backend into a client that never reads.
      const pump = () => {
        for (let i = 0; i < 16 && !s.closed; i++) {
          s.send('token', event, `${Date.now()}-${sent}`);
          sent += event.length;
          maxBuffered = Math.max(maxBuffered, reply.raw.writableLength);
        }
        if (!s.closed) setImmediate(pump);
      };
      pump();
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = new URL(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`);
    const socket = await stalledClient(url, '/events', 'none');
    try {
      await waitFor(
        async () => (stream as SseStream | null)?.closed ?? false,
        (closed) => closed,
        10_000,
      );
      // Some megabytes fit in the kernel's socket buffers; the api itself never held more than the limit
      // plus the one event that crossed it.
      expect(sent).toBeGreaterThan(limit);
      expect(maxBuffered).toBeLessThanOrEqual(limit + event.length + 200);
    } finally {
      socket.destroy();
      await app.close();
    }
  });

  describe('200 clients that never read, against the real api', () => {
    let stack: Stack;
    let api: RunningProcess;
    let users: TestSession[];
    const sockets: Socket[] = [];

    beforeAll(async () => {
      stack = await startStack({
        kind: 'vllm',
        // Every job waits 1.5 s before its first token so that all clients are connected when text flows.
        sim: { ttftMs: 1_500, tokenDelayMs: 0, replyTokens: REPLY_TOKENS, maxModelLen: REPLY_TOKENS + 1_000 },
        env: {
          // One event per token: the most bytes per stream the pipeline can produce.
          EVENT_FLUSH_MS: '0',
          LLM_MAX_TOKENS: String(REPLY_TOKENS),
          LLM_MAX_CONTEXT_TOKENS: String(REPLY_TOKENS + 1_000),
          SSE_MAX_PER_USER: String(SLOW_CLIENTS),
          JWT_SECRET: randomBytes(32).toString('hex'),
        },
      });
      api = stack.processes.find((p) => p.name === 'api')!;
      users = await Promise.all(Array.from({ length: JOBS }, () => guestSession(stack.apiUrl)));
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await stack?.stop();
    });

    it(`keeps the api under ${RSS_BOUND / MiB} MB while a reading client of each job gets every token`, async () => {
      const url = new URL(stack.apiUrl);
      const rssBefore = rssOf(api.proc.pid!);
      const jobs = await Promise.all(
        users.map((u, i) =>
          call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
            body: { message: `긴 이야기 ${i}`, max_tokens: REPLY_TOKENS },
            headers: u.bearer,
          }),
        ),
      );
      expect(jobs.map((j) => j.status)).toEqual(Array(JOBS).fill(202));
      for (let i = 0; i < SLOW_CLIENTS; i++) {
        const j = i % JOBS;
        sockets.push(await stalledClient(url, jobs[j]!.body.links.events, users[j]!.token));
      }
      const readers = jobs.map((j, i) =>
        readSse(`${stack.apiUrl}${j.body.links.events}`, { headers: users[i]!.bearer }),
      );

      let peak = rssBefore;
      let perStream = 0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssOf(api.proc.pid!));
      }, 100);
      try {
        const streams = await Promise.all(readers);
        perStream = streams[0]!.reduce((n, e) => n + Buffer.byteLength(e.data) + (e.id?.length ?? 0) + 20, 0);
        for (const [i, events] of streams.entries()) {
          const view = await call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${jobs[i]!.body.job_id}`, {
            headers: users[i]!.bearer,
          });
          expect(view.body.status).toBe('completed');
          expect(view.body.reply?.usage.completion_tokens).toBeGreaterThanOrEqual(REPLY_TOKENS);
          expect(tokensOf(events)).toBe(view.body.reply?.content);
          expect(events.at(-1)?.event).toBe('done');
        }
      } finally {
        clearInterval(sampler);
      }
      // Read what the stalled clients were sent: a stream the api cut stops short of its `done` event.
      const received = await Promise.all(sockets.map(drain));
      const cut = received.filter((text) => !text.includes('event: done')).length;
      const mb = (b: number) => `${(b / MiB).toFixed(1)} MB`;
      console.log(
        `slow SSE: ${SLOW_CLIENTS} stalled clients on ${JOBS} jobs of ${REPLY_TOKENS} tokens (${mb(perStream)} of events per stream); api RSS before ${mb(rssBefore)}, peak ${mb(peak)}; ${cut} of the stalled streams were cut`,
      );
      expect(api.proc.exitCode).toBeNull();
      expect(peak).toBeLessThan(RSS_BOUND);
    }, 120_000);
  });
});
