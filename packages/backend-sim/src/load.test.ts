import { afterEach, describe, expect, it } from 'vitest';
import { startBackendSim } from './server.js';
import { HELLO, postJson, until } from './test-helpers.js';
import type { BackendSim } from './types.js';

let sim: BackendSim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const body = (stream: boolean) => ({ messages: HELLO, stream });

describe('capacity', () => {
  it('vLLM: capacity 2, 6 parallel requests: 2 generate, 4 wait, all 6 count in flight', async () => {
    // Paused, no request can finish before all six have arrived, however slow this machine is.
    sim = await startBackendSim({ kind: 'vllm', capacity: 2, ttftMs: 50, paused: true });
    const url = `${sim.url}/v1/chat/completions`;
    const all = Array.from({ length: 6 }, () => postJson(url, body(false)).then((r) => r.json()));
    await until(() => sim!.stats().inFlight === 6, 20_000);
    expect(sim.stats()).toMatchObject({ generating: 2, waiting: 4, completed: 0 });
    const t0 = Date.now();
    sim.configure({ paused: false });
    await Promise.all(all);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(145); // three waves of 50 ms
    expect(sim.stats()).toMatchObject({
      maxInFlight: 6,
      maxGenerating: 2,
      completed: 6,
      inFlight: 0,
      waiting: 0,
    });
  });

  it('vLLM: stream headers come at once, tokens only after the slot frees; 503 beyond maxQueue', async () => {
    // Paused, `a` holds the only slot until the test lets it go.
    sim = await startBackendSim({ kind: 'vllm', capacity: 1, maxQueue: 1, ttftMs: 80, paused: true });
    const url = `${sim.url}/v1/chat/completions`;
    const a = postJson(url, body(true));
    await until(() => sim!.stats().generating === 1, 20_000);
    const b = await postJson(url, body(true)); // headers while waiting: `a` cannot have ended yet
    expect(b.status).toBe(200);
    expect(sim.stats()).toMatchObject({ generating: 1, waiting: 1, completed: 0 });
    const c = await postJson(url, body(true));
    expect(c.status).toBe(503);
    expect(((await c.json()) as { error: { code: number } }).error.code).toBe(503);
    // b's tokens come only after a's slot frees: a's body ends before b's.
    const order: string[] = [];
    sim.configure({ paused: false });
    await Promise.all([
      (await a).text().then(() => order.push('a')),
      b.text().then((t) => {
        order.push('b');
        expect(t).toContain('[DONE]');
      }),
    ]);
    expect(order).toEqual(['a', 'b']);
  });

  it('a client abort while waiting or generating frees the slot and is recorded', async () => {
    sim = await startBackendSim({ kind: 'ollama', capacity: 1, tokenDelayMs: 20 });
    const url = `${sim.url}/api/chat`;
    const msg = { model: 'gemma-3-27b-it', messages: HELLO };
    const ca = new AbortController();
    const cb = new AbortController();
    const a = postJson(url, msg, { signal: ca.signal });
    const b = postJson(url, msg, { signal: cb.signal }).catch((e: unknown) => e);
    await until(() => sim!.stats().waiting === 1);
    cb.abort(); // waiting
    await until(() => sim!.stats().waiting === 0);
    const ra = await a;
    const reader = ra.body!.getReader();
    await reader.read(); // generating now
    ca.abort();
    await until(() => sim!.stats().generating === 0 && sim!.stats().inFlight === 0);
    expect(await b).toBeInstanceOf(Error);
    expect(sim.stats()).toMatchObject({ aborted: 2, completed: 0 });
    expect(sim.requests().map((r) => r.aborted)).toEqual([true, true]);
    sim.configure({ tokenDelayMs: 0 });
    const c = await postJson(url, { ...msg, stream: false });
    expect(c.status).toBe(200);
  });

  it('stop() refuses connections and cuts open ones; start() serves on the same port', async () => {
    sim = await startBackendSim({ kind: 'vllm', ttftMs: 5000 });
    const { port } = sim;
    const url = `${sim.url}/v1/chat/completions`;
    const open = postJson(url, body(false)).catch((e: unknown) => e);
    await until(() => sim!.stats().inFlight === 1);
    await sim.stop();
    expect(await open).toBeInstanceOf(Error);
    const refused = await fetch(`${sim.url}/health`).catch((e: unknown) => e);
    expect((refused as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
    await sim.start();
    expect(sim.port).toBe(port);
    expect((await fetch(`${sim.url}/health`)).status).toBe(200);
    expect(sim.stats()).toMatchObject({ requests: 1, aborted: 1, inFlight: 0 });
  });

  it('stop() with a queue: every open request is aborted, nothing written to dead sockets', async () => {
    sim = await startBackendSim({ kind: 'ollama', capacity: 1, tokenDelayMs: 10 });
    const url = `${sim.url}/api/chat`;
    const all = Array.from({ length: 5 }, () =>
      postJson(url, { model: 'gemma-3-27b-it', messages: HELLO })
        .then((r) => r.text())
        .catch((e: unknown) => e),
    );
    await until(() => sim!.stats().waiting === 4);
    await sim.stop();
    for (const r of await Promise.all(all)) expect(r).toBeInstanceOf(Error);
    await until(() => sim!.stats().inFlight === 0);
    expect(sim.stats()).toMatchObject({ aborted: 5, completed: 0, generating: 0, waiting: 0 });
  });
});

// Speed is measured in bench/, not here: this only checks that waves of requests all get answered.
describe('many requests', () => {
  it('answers every zero-latency request of several concurrent waves', async () => {
    sim = await startBackendSim({ kind: 'vllm', capacity: 4 });
    const url = `${sim.url}/v1/chat/completions`;
    for (let wave = 0; wave < 10; wave++) {
      await Promise.all(
        Array.from({ length: 50 }, () => postJson(url, body(wave % 2 === 0)).then((r) => r.text())),
      );
    }
    expect(sim.stats().completed).toBe(500);
    expect(sim.stats().maxGenerating).toBeLessThanOrEqual(4);
  });
});
