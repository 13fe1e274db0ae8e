import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startBackendSim } from './server.js';
import { HELLO, ndjson, postJson, sleep, sseEvents, until } from './test-helpers.js';
import type { BackendSim, SimFaults } from './types.js';

const ZERO: SimFaults = {
  errorRate: 0,
  hangRate: 0,
  dropRate: 0,
  streamErrorRate: 0,
  garbageRate: 0,
  stallRate: 0,
};

for (const kind of ['vllm', 'ollama'] as const) {
  describe(`${kind} faults`, () => {
    let sim: BackendSim;
    let url: string;
    const req = (stream: boolean, init?: RequestInit) =>
      postJson(url, { model: kind === 'vllm' ? undefined : 'gemma-3-27b-it', messages: HELLO, stream }, init);
    const only = (f: Partial<SimFaults>) => sim.configure({ faults: { ...ZERO, ...f } });

    beforeAll(async () => {
      sim = await startBackendSim({ kind, capacity: 4, seed: 42 });
      url = kind === 'vllm' ? `${sim.url}/v1/chat/completions` : `${sim.url}/api/chat`;
    });
    afterAll(() => sim.close());
    beforeEach(() => {
      sim.configure({ faults: ZERO, tokenDelayMs: 0 });
      sim.resetStats();
    });

    it('errorRate: 500 in the backend error format', async () => {
      only({ errorRate: 1 });
      const res = await req(true);
      expect(res.status).toBe(500);
      const b = (await res.json()) as { error: unknown };
      if (kind === 'vllm') expect(b.error).toMatchObject({ type: 'InternalServerError', code: 500 });
      else expect(typeof b.error).toBe('string');
      expect(sim.stats().errors).toBe(1);
      expect(sim.requests()[0]).toMatchObject({ fault: 'error', status: 500 });
    });

    it('garbageRate: an HTML 502 from a proxy', async () => {
      only({ garbageRate: 1 });
      const res = await req(false);
      expect(res.status).toBe(502);
      expect(res.headers.get('content-type')).toBe('text/html');
      expect(await res.text()).toContain('<title>502 Bad Gateway</title>');
    });

    it('hangRate: no answer until the client gives up', async () => {
      only({ hangRate: 1 });
      const err = await req(false, { signal: AbortSignal.timeout(150) }).catch((e: unknown) => e);
      expect((err as Error).name).toBe('TimeoutError');
      await until(() => sim.stats().inFlight === 0);
      expect(sim.stats()).toMatchObject({ errors: 1, aborted: 1 });
    });

    it('dropRate: the socket dies mid-stream', async () => {
      only({ dropRate: 1 });
      const res = await req(true);
      expect(res.status).toBe(200);
      await expect(res.text()).rejects.toThrow();
      const nonStream = await req(false).catch((e: unknown) => e);
      expect(nonStream).toBeInstanceOf(Error);
    });

    it('streamErrorRate: an in-band error in the backend framing', async () => {
      only({ streamErrorRate: 1 });
      const res = await req(true);
      expect(res.status).toBe(200);
      const text = await res.text();
      if (kind === 'vllm') {
        const ev = sseEvents(text);
        expect(ev.at(-1)).toBe('[DONE]');
        expect(ev.at(-2)).toBe(
          '{"error": {"message": "Internal server error", "type": "InternalServerError", "param": null, "code": 500}}',
        );
        expect(ev.length).toBe(1 + 12 + 2); // role chunk, half of 24 pieces, error, [DONE]
      } else {
        const lines = ndjson(text);
        expect(lines.at(-1)).toEqual({ error: 'an error was encountered while running the model' });
        expect(lines.some((l) => l['done'] === true)).toBe(false);
        expect(lines).toHaveLength(12 + 1);
      }
      const ns = await req(false);
      expect(ns.status).toBe(500);
      await ns.text();
    });

    it('stallRate: half the tokens, then silence until the client closes', async () => {
      only({ stallRate: 1 });
      sim.configure({ tokenDelayMs: 1 });
      const ac = new AbortController();
      const res = await req(true, { signal: ac.signal });
      const reader = res.body!.getReader();
      let got = '';
      const dec = new TextDecoder();
      const pump = (async () => {
        for (;;) {
          const r = await reader.read().catch(() => ({ done: true, value: undefined }));
          if (r.done) return;
          got += dec.decode(r.value, { stream: true });
        }
      })();
      await sleep(250);
      expect(sim.stats()).toMatchObject({ inFlight: 1, generating: 1, completed: 0 });
      const n = kind === 'vllm' ? sseEvents(got).length : ndjson(got).length;
      expect(n).toBe(kind === 'vllm' ? 13 : 12);
      ac.abort();
      await pump;
      await until(() => sim.stats().inFlight === 0);
      expect(sim.stats()).toMatchObject({ aborted: 1, generating: 0 });
    });
  });
}

it('the seed makes the fault sequence reproducible', async () => {
  const statuses = async () => {
    const s = await startBackendSim({ kind: 'vllm', seed: 7, faults: { errorRate: 0.5 } });
    const out: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await postJson(`${s.url}/v1/chat/completions`, { messages: HELLO });
      await r.text();
      out.push(r.status);
    }
    await s.close();
    return out;
  };
  const a = await statuses();
  expect(a).toEqual(await statuses());
  expect(new Set(a)).toEqual(new Set([200, 500]));
});
