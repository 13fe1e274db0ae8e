import { DEFAULT_MODELS } from '@gateway/config';
import { GatewayError, isGatewayError } from '@gateway/contracts';
import { createLogger } from '@gateway/logger';
import { BackendState } from '@gateway/queue';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CircuitBreaker } from './circuit-breaker.js';
import { type ChatHarness, startChatHarness } from './testing/chat-harness.js';

const PROBE_MS = 100;
const THRESHOLD = 3;
const log = createLogger({ service: 'llm-worker-test', level: 'silent' });

let h: ChatHarness;
let state: BackendState;
const breakers: CircuitBreaker[] = [];
beforeAll(async () => {
  h = await startChatHarness();
  state = new BackendState(h.redis, h.chat.keys);
});
afterEach(async () => {
  for (const b of breakers.splice(0)) b.stop();
  await h.sim.start();
  await state.markUp();
  await h.chat.chatQueue.removeRateLimitKey();
});
afterAll(() => h.close());

const breaker = () => {
  const b = new CircuitBreaker(h.chat.chatQueue, h.llm, state, log, {
    threshold: THRESHOLD,
    probeMs: PROBE_MS,
  });
  breakers.push(b);
  return b;
};

/** The error a real request to the simulator ends with, as the worker would see it. */
async function failureOf(model: string = DEFAULT_MODELS.vllm): Promise<GatewayError> {
  const err = await h.llm
    .chatStream({ model, messages: [{ role: 'user', content: '안녕' }], maxTokens: 8 }, { onToken: () => {} })
    .then(
      () => null,
      (e: unknown) => e,
    );
  if (!isGatewayError(err)) throw new Error(`expected a GatewayError, got ${String(err)}`);
  return err;
}

/** Polls `check` until it holds, or fails after `ms`. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline)
      throw new Error(`condition not reached in ${ms} ms; last ${JSON.stringify(v)}`);
    await new Promise<void>((r) => setTimeout(r, 10));
  }
}

describe('CircuitBreaker', () => {
  it(`opens after ${THRESHOLD} outage failures in a row: backend marked down, queue held`, async () => {
    await h.sim.stop();
    const outage = await failureOf();
    expect(outage.code).toBe('backend_unavailable');
    const b = breaker();
    for (let i = 1; i < THRESHOLD; i++) {
      expect(await b.onFailure(outage)).toBe(false);
      expect(b.isOpen).toBe(false);
    }
    expect(await state.isDown()).toBe(false);
    expect(await b.onFailure(outage)).toBe(true);
    expect(b.isOpen).toBe(true);
    expect(await state.get()).toMatchObject({
      status: 'down',
      reason: expect.stringContaining('backend_unavailable'),
    });
    expect(await h.chat.chatQueue.getRateLimitTtl()).toBeGreaterThan(0);
    // Later failures while open send their jobs back to wait as well.
    expect(await b.onFailure(outage)).toBe(true);
  });

  it('keeps probing while the backend stays down, and closes once it answers', async () => {
    await h.sim.stop();
    const outage = await failureOf();
    const b = breaker();
    for (let i = 0; i < THRESHOLD; i++) await b.onFailure(outage);
    expect(b.isOpen).toBe(true);
    // A failed probe holds the queue for longer than the probe interval: its rate limit is renewed.
    const first = await h.chat.chatQueue.getRateLimitTtl();
    await until(
      () => h.chat.chatQueue.getRateLimitTtl(),
      (ttl) => ttl > Math.max(first, PROBE_MS),
    );
    expect(b.isOpen).toBe(true);
    expect(await state.isDown()).toBe(true);

    await h.sim.start();
    await until(
      () => state.isDown(),
      (down) => !down,
    );
    expect(b.isOpen).toBe(false);
    expect(await h.chat.chatQueue.getRateLimitTtl()).toBeLessThanOrEqual(0);
    // The count starts again from zero.
    expect(await b.onFailure(outage)).toBe(false);
  });

  it('counts only outages, and a success starts the count again', async () => {
    const notFound = await failureOf('no-such-model');
    expect(notFound.code).toBe('model_not_found');
    const b = breaker();
    for (let i = 0; i < THRESHOLD * 2; i++) expect(await b.onFailure(notFound)).toBe(false);
    const outage = new GatewayError('backend_server_error', 'HTTP 500');
    for (let i = 1; i < THRESHOLD; i++) expect(await b.onFailure(outage)).toBe(false);
    b.onSuccess();
    for (let i = 1; i < THRESHOLD; i++) expect(await b.onFailure(outage)).toBe(false);
    expect(b.isOpen).toBe(false);
    expect(await state.isDown()).toBe(false);
  });

  it('opens at the first outage failure when another worker already found the backend down', async () => {
    await state.markDown('backend_unavailable: seen by another worker');
    const b = breaker();
    expect(await b.onFailure(new GatewayError('backend_timeout', 'no answer'))).toBe(true);
    expect(b.isOpen).toBe(true);
  });
});
