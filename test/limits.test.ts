import { randomBytes } from 'node:crypto';
import type { ChatJobAccepted } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestSession, type TestSession } from './support/auth.js';
import { call, waitFor } from './support/http.js';
import { type Stack, startStack } from './support/stack.js';

type ErrorBody = { error: { code: string; message: string; details?: Record<string, unknown> } };

const PER_USER = 5;
const PER_IP = 8;

/**
 * Abuse limits across real api processes: SSE streams per user (SSE_MAX_PER_USER, default 20, counted in
 * Redis so that every api instance sees the same count) and chat submissions per user and per client IP
 * (@fastify/rate-limit on its Redis store). No llm-worker runs, so jobs stay queued and their event
 * streams stay open for as long as the test holds them.
 */
describe('abuse limits', () => {
  let stack: Stack;
  let firstApi: string;
  const open: AbortController[] = [];

  beforeAll(async () => {
    stack = await startStack({
      kind: 'vllm',
      services: ['api'],
      env: {
        // Client addresses come from X-Forwarded-For, so the test can speak from several IPs.
        TRUST_PROXY: 'true',
        SUBMIT_RATE_PER_USER: String(PER_USER),
        SUBMIT_RATE_PER_IP: String(PER_IP),
        // Both api instances must accept the same sessions.
        JWT_SECRET: randomBytes(32).toString('hex'),
      },
    });
    firstApi = stack.apiUrl;
  });
  afterAll(async () => {
    for (const c of open) c.abort();
    await stack?.stop();
  });

  const from = (s: TestSession, ip: string) => ({ ...s.bearer, 'x-forwarded-for': ip });
  const submit = (s: TestSession, ip: string, api = firstApi) =>
    call<ChatJobAccepted & ErrorBody>(`${api}/chat/jobs`, {
      body: { message: '안녕' },
      headers: from(s, ip),
    });

  /** Opens an event stream and keeps it open; resolves with its status (and the error body if refused). */
  async function openStream(s: TestSession, jobId: string, api = firstApi) {
    const controller = new AbortController();
    const res = await fetch(`${api}/chat/jobs/${jobId}/events`, {
      headers: { ...s.bearer, accept: 'text/event-stream' },
      signal: controller.signal,
    });
    if (res.status === 200) {
      open.push(controller);
      return { status: 200, headers: res.headers, close: () => controller.abort(), body: null };
    }
    return {
      status: res.status,
      headers: res.headers,
      close: () => {},
      body: (await res.json()) as ErrorBody,
    };
  }

  describe('SSE streams per user', () => {
    let mina: TestSession;
    let jobId: string;
    const streams: { close(): void }[] = [];

    beforeAll(async () => {
      mina = await guestSession(firstApi);
      const job = await submit(mina, '10.1.0.1');
      expect(job.status).toBe(202);
      jobId = job.body.job_id;
    });

    it('refuses the 21st open stream of one user with 429 rate_limited and Retry-After', async () => {
      const first20 = await Promise.all(Array.from({ length: 20 }, () => openStream(mina, jobId)));
      expect(first20.map((r) => r.status)).toEqual(Array(20).fill(200));
      streams.push(...first20);
      const refused = await openStream(mina, jobId);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
      expect(refused.body?.error.code).toBe('rate_limited');
      expect(refused.body?.error.details).toMatchObject({ scope: 'sse_streams', limit: 20 });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    });

    it('counts per user: another user still opens streams', async () => {
      const other = await guestSession(firstApi);
      const job = await submit(other, '10.1.0.2');
      const s = await openStream(other, job.body.job_id);
      expect(s.status).toBe(200);
      s.close();
    });

    it('counts across api instances (in Redis), and a closed stream frees its slot', async () => {
      const second = await stack.start('api');
      const secondUrl = stack.apiUrl;
      expect(second.proc.exitCode).toBeNull();
      expect((await openStream(mina, jobId, secondUrl)).status).toBe(429);
      streams.pop()?.close();
      // The slot comes back when the server sees the stream close.
      const reopened = await waitFor(
        () => openStream(mina, jobId, secondUrl),
        (r) => r.status === 200,
        5_000,
      );
      streams.push(reopened);
      expect((await openStream(mina, jobId, secondUrl)).status).toBe(429);
      const leases = await stack.redis.zcard(`${stack.prefix}:user:{${mina.user.id}}:sse`);
      expect(leases).toBe(20);
    });
  });

  describe('submissions per user and per IP', () => {
    it(`answers 429 rate_limited with Retry-After after ${PER_USER} submissions of one user, from any address`, async () => {
      const yuna = await guestSession(firstApi);
      const answers = [];
      for (let i = 0; i < PER_USER; i++) answers.push(await submit(yuna, '10.2.0.1'));
      expect(answers.map((a) => a.status)).toEqual(Array(PER_USER).fill(202));
      const refused = await submit(yuna, '10.2.0.1');
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('rate_limited');
      expect(refused.body.error.details).toMatchObject({
        scope: 'user',
        limit: PER_USER,
        window_seconds: 60,
      });
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      // Another address does not help a user over the limit.
      expect((await submit(yuna, '10.2.0.99')).status).toBe(429);
      // POST /v1/chat/completions draws on the same count, and answers in OpenAI's error shape.
      const v1 = await call<{ error: { type: string; code: string } }>(`${firstApi}/v1/chat/completions`, {
        body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
        headers: from(yuna, '10.2.0.1'),
      });
      if (v1.status !== 404) {
        expect(v1.status).toBe(429);
        expect(v1.body.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limited' });
        expect(Number(v1.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
    });

    it(`answers 429 after ${PER_IP} submissions from one address, whoever sends them`, async () => {
      const users = await Promise.all(Array.from({ length: 3 }, () => guestSession(firstApi)));
      let accepted = 0;
      let refused: Awaited<ReturnType<typeof submit>> | null = null;
      for (let i = 0; i < PER_IP + 3 && !refused; i++) {
        const r = await submit(users[i % users.length]!, '10.3.0.7');
        if (r.status === 202) accepted++;
        else refused = r;
      }
      expect(accepted).toBe(PER_IP);
      expect(refused?.status).toBe(429);
      expect(refused?.body.error.details).toMatchObject({ scope: 'ip', limit: PER_IP });
      expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // The same users from another address are not limited by the first one's count.
      expect((await submit(users[0]!, '10.3.0.8')).status).toBe(202);
    });

    it('keeps its counters under the gateway key prefix', async () => {
      const keys = await stack.redis.keys(`${stack.prefix}:rl:*`);
      expect(keys.some((k) => k.startsWith(`${stack.prefix}:rl:submit-user:`))).toBe(true);
      expect(keys).toContain(`${stack.prefix}:rl:submit-ip:10.3.0.7`);
      for (const k of keys) expect(await stack.redis.pttl(k)).toBeGreaterThan(0);
    });
  });
});
