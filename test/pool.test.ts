import { type BackendSim, startBackendSim } from '@gateway/backend-sim';
import type { ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, waitFor } from './support/http.js';
import { guestHeaders } from './support/session.js';
import { type Stack, startStack } from './support/stack.js';

/**
 * A pool of three GPU servers (simulators): `a` and `b` serve m1 with caps 3 and 2, `c` (Ollama) serves
 * m2 with cap 2 and is listed without its models (the gateway asks it). Two llm-worker processes.
 */
const CAPS = { a: 3, b: 2, c: 2 };
const ended = (s: string) => ['completed', 'failed', 'cancelled'].includes(s);

describe('a pool of GPU servers', () => {
  let stack: Stack;
  let sa: BackendSim;
  let b: BackendSim;
  let c: BackendSim;
  let headers: Record<string, string>;
  const a = () => sa;
  const sims = () => ({ a: sa, b, c });

  beforeAll(async () => {
    const timing = { ttftMs: 20, tokenDelayMs: 8, replyTokens: 16 };
    [sa, b, c] = await Promise.all([
      startBackendSim({ kind: 'vllm', models: ['m1'], ...timing }),
      startBackendSim({ kind: 'vllm', models: ['m1'], ...timing }),
      startBackendSim({ kind: 'ollama', models: ['m2'], capacity: 4, ...timing }),
    ]);
    // LLM_BACKENDS replaces the single-backend settings (the stack's own simulator gets no request).
    stack = await startStack({
      kind: 'vllm',
      services: ['api', 'llm-worker', 'llm-worker'],
      env: {
        LLM_MODEL: 'm1',
        USER_MAX_ACTIVE_JOBS: '1000',
        WORKER_CONCURRENCY: '10',
        BREAKER_PROBE_MS: '200',
        LLM_BACKENDS: JSON.stringify([
          { name: 'a', service: 'vllm', url: sa.url, concurrency: CAPS.a, models: ['m1'] },
          { name: 'b', service: 'vllm', url: b.url, concurrency: CAPS.b, models: ['m1'] },
          { name: 'c', service: 'ollama', url: c.url, concurrency: CAPS.c },
        ]),
      },
    });
    headers = await guestHeaders(stack.apiUrl);
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    await Promise.all([sa?.close(), b?.close(), c?.close()]);
  });

  const reset = () => {
    for (const s of Object.values(sims())) s.resetStats();
  };
  const submit = async (message: string, extra: Record<string, unknown> = {}) => {
    const r = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
      body: { message, ...extra },
      headers,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return r.body;
  };
  const settle = (ids: string[], timeoutMs = 30_000) =>
    Promise.all(
      ids.map((id) =>
        waitFor(
          () => call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${id}`, { headers }).then((v) => v.body),
          (v) => ended(v.status),
          timeoutMs,
        ),
      ),
    );
  /** Which simulator received the chat request whose last user message is `message`. */
  const servedBy = (message: string) =>
    Object.entries(sims())
      .filter(([, s]) =>
        s.requests().some((r) => {
          const body = r.body as { messages?: { role: string; content: string }[] };
          const last = body.messages?.filter((m) => m.role === 'user').at(-1);
          return last?.content.includes(message) && r.path.includes('chat');
        }),
      )
      .map(([name]) => name);

  it('lists every server’s models and is ready while each has a healthy server', async () => {
    const models = await call<{ models: { id: string }[] }>(`${stack.apiUrl}/models`, { headers });
    expect(models.body.models.map((m) => m.id).sort()).toEqual(['m1', 'm2:latest']);
    const v1 = await call<{ data: { id: string }[] }>(`${stack.apiUrl}/v1/models`, { headers });
    expect(v1.body.data.map((m) => m.id).sort()).toEqual(['m1', 'm2:latest']);
    expect((await call(`${stack.apiUrl}/ready`)).status).toBe(200);
  });

  it('spreads one model over its servers, never above either cap, each job run once', async () => {
    reset();
    const jobs = await Promise.all(Array.from({ length: 30 }, (_, i) => submit(`spread ${i}`)));
    const views = await settle(jobs.map((j) => j.job_id));
    expect(views.map((v) => v.status)).toEqual(views.map(() => 'completed'));
    const [sta, sb, sc] = [a().stats(), b.stats(), c.stats()];
    expect(sta.maxInFlight).toBeLessThanOrEqual(CAPS.a);
    expect(sb.maxInFlight).toBeLessThanOrEqual(CAPS.b);
    // Both servers were used to their caps, and every job ran to the end exactly once.
    expect(sta.maxInFlight).toBe(CAPS.a);
    expect(sb.maxInFlight).toBe(CAPS.b);
    expect(sta.completed + sb.completed).toBe(30);
    expect(sc.requests).toBe(0);
  });

  it('routes by model, and refuses a model no server serves with a 400 naming it', async () => {
    reset();
    const jobs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => submit(`model ${i}`, { model: 'm2' })),
    );
    const views = await settle(jobs.map((j) => j.job_id));
    expect(views.every((v) => v.status === 'completed' && v.reply?.model === 'm2')).toBe(true);
    expect(c.stats().completed).toBe(8);
    expect(c.stats().maxInFlight).toBeLessThanOrEqual(CAPS.c);
    expect(a().stats().requests + b.stats().requests).toBe(0);

    const refused = await call<{ error: { code: string; message: string } }>(`${stack.apiUrl}/chat/jobs`, {
      body: { message: 'x', model: 'm3' },
      headers,
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toContain('m3');
  });

  it('keeps the turns of a conversation on one server while it is healthy', async () => {
    reset();
    const conversations: string[] = [];
    for (let i = 0; i < 4; i++) conversations.push((await submit(`conv ${i} turn 0`)).conversation_id);
    // Later turns queue behind the earlier ones; meanwhile other load shifts which server is shorter.
    const later: string[] = [];
    for (let turn = 1; turn < 4; turn++) {
      for (const [i, id] of conversations.entries()) {
        later.push((await submit(`conv ${i} turn ${turn}`, { conversation_id: id })).job_id);
      }
      const noise = await Promise.all(Array.from({ length: 3 }, (_, k) => submit(`noise ${turn} ${k}`)));
      later.push(...noise.map((j) => j.job_id));
    }
    await settle(later);
    for (let i = 0; i < conversations.length; i++) {
      const servers = new Set(
        Array.from({ length: 4 }, (_, turn) => servedBy(`conv ${i} turn ${turn}`)).flat(),
      );
      expect(servers.size, `conversation ${i} ran on ${[...servers]}`).toBe(1);
    }
  });

  it('finishes every job exactly once when a server dies mid-run', async () => {
    reset();
    a().configure({ tokenDelayMs: 25 });
    b.configure({ tokenDelayMs: 25 });
    const jobs = await Promise.all(Array.from({ length: 24 }, (_, i) => submit(`kill ${i}`)));
    // Kill `a` while it generates: its requests are cut off, its waiting jobs must move to `b`.
    await waitFor(
      async () => a().stats().generating,
      (n) => n >= 2,
    );
    const completedAtKill = a().stats().completed;
    await a().stop();
    const views = await settle(
      jobs.map((j) => j.job_id),
      60_000,
    );
    expect(views.map((v) => v.status)).toEqual(views.map(() => 'completed'));
    // Each job's reply was generated in full exactly once: on `a` before it died, or on `b`.
    expect(completedAtKill + b.stats().completed).toBe(24);
    expect(a().stats().completed).toBe(completedAtKill);
    expect(b.stats().maxInFlight).toBeLessThanOrEqual(CAPS.b);
    // The cut-off jobs ran again on `b` as their second attempt, once.
    const attempts = views.map((v) => v.attempt ?? 1);
    expect(attempts.some((n) => n === 2)).toBe(true);
    expect(Math.max(...attempts)).toBe(2);
    // m1 still has a healthy server (b), m2 has c: the gateway stays ready.
    expect((await call(`${stack.apiUrl}/ready`)).status).toBe(200);
    // Without c, no server serves m2: not ready, and it says which model.
    await c.stop();
    const ready = await call<{ error: { message: string } }>(`${stack.apiUrl}/ready`);
    expect(ready.status).toBe(503);
    expect(ready.body.error.message).toContain('no healthy server serves m2');
  }, 90_000);
});
