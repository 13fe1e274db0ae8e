import type { ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, readSse, waitFor } from './support/http.js';
import { guestHeaders } from './support/session.js';
import { type Stack, startStack } from './support/stack.js';

const view = (stack: Stack, id: string, headers: Record<string, string>) =>
  call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${id}`, { headers }).then((r) => r.body);

describe('fair share of the GPU', () => {
  let stack: Stack;
  let userA: Record<string, string>;
  let userB: Record<string, string>;
  beforeAll(async () => {
    // The llm-worker starts once the first test has built its backlog (or in the test that needs it).
    stack = await startStack({
      kind: 'vllm',
      sim: { ttftMs: 20, tokenDelayMs: 10, replyTokens: 4, capacity: 2 },
      env: { LLM_CONCURRENCY: '2', USER_MAX_ACTIVE_JOBS: '1000' },
      services: ['api'],
    });
    [userA, userB] = await Promise.all([guestHeaders(stack.apiUrl), guestHeaders(stack.apiUrl)]);
  });
  afterAll(() => stack.stop());
  const startWorker = async () => {
    if (!stack.processes.some((p) => p.name === 'llm-worker')) await stack.start('llm-worker');
  };

  it("starts a newcomer's job before a heavy user's backlog; every job completes once", async () => {
    // No worker yet: all 200 of A's jobs are still waiting when B arrives, however slowly this machine
    // submits them (with a worker running, a slow submitter let A's backlog drain before B came).
    const a: ChatJobAccepted[] = [];
    for (let i = 0; i < 200; i++) {
      a.push(
        (
          await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
            body: { message: `A${i}` },
            headers: userA!,
          })
        ).body,
      );
    }
    const b = (
      await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, { body: { message: 'B' }, headers: userB! })
    ).body;
    // B's place in line is near the front, not behind A's backlog.
    const bView = await view(stack, b.job_id, userB!);
    expect(bView.status).toBe('queued');
    expect(bView.queue_position).toBeLessThanOrEqual(2);
    await startWorker();
    const bDone = await waitFor(
      () => view(stack, b.job_id, userB!),
      (v) => v.status === 'completed',
      30_000,
    );
    const bStart = Date.parse(bDone.started_at!);
    // One poller for the end of A's backlog (200 pollers at once were most of the load), then each view.
    await waitFor(
      () => view(stack, a.at(-1)!.job_id, userA!),
      (v) => v.status === 'completed',
      60_000,
    );
    const aViews: ChatJobView[] = [];
    for (const j of a) {
      aViews.push(
        await waitFor(
          () => view(stack, j.job_id, userA!),
          (v) => v.status === 'completed',
          10_000,
        ),
      );
    }
    const bCreated = Date.parse(bDone.created_at);
    const waitingWhenBArrived = aViews.filter((v) => Date.parse(v.started_at!) > bCreated);
    expect(waitingWhenBArrived.length).toBeGreaterThan(100);
    // B went in the first wave of the LLM_CONCURRENCY=2 slots: at most one of A's waiting jobs (the one
    // that shares B's place in line, A's first) started before it.
    expect(waitingWhenBArrived.filter((v) => Date.parse(v.started_at!) < bStart).length).toBeLessThanOrEqual(
      1,
    );
    // Exactly one reply each.
    const events = await readSse(`${stack.apiUrl}/chat/jobs/${a[100]!.job_id}/events`, { headers: userA! });
    expect(events.filter((e) => e.event === 'reply')).toHaveLength(1);
    expect(stack.sim.stats().completed).toBeGreaterThanOrEqual(201);
  }, 90_000);

  it('estimates when a job in a steady backlog starts, within 25%', async () => {
    await startWorker();
    // Jobs of about 190 ms, so that a busy machine's jitter of some ms per job is small against them.
    stack.sim.configure({ ttftMs: 150 });
    const ids: string[] = [];
    for (let i = 0; i < 80; i++) {
      ids.push(
        (
          await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
            body: { message: `E${i}` },
            headers: userA!,
          })
        ).body.job_id,
      );
    }
    // Let 30 jobs of the backlog through, so that the moving average of the slot gap (weight 0.1 per
    // job) is measured on this backlog: what is left of the earlier, shorter jobs is 0.9^30 = 4%.
    await waitFor(
      () => view(stack, ids[29]!, userA!),
      (v) => v.status === 'completed',
      60_000,
    );
    const probeId = ids[70]!;
    const probe = await view(stack, probeId, userA!);
    expect(probe.status).toBe('queued');
    expect(probe.eta_seconds).not.toBeNull();
    const asked = Date.now();
    const done = await waitFor(
      () => view(stack, probeId, userA!),
      (v) => v.status === 'completed',
      60_000,
    );
    const actual = (Date.parse(done.started_at!) - asked) / 1000;
    expect(Math.abs(probe.eta_seconds! - actual) / actual).toBeLessThanOrEqual(0.25);
  }, 90_000);
});

describe('workers online', () => {
  let stack: Stack;
  let headers: Record<string, string>;
  beforeAll(async () => {
    stack = await startStack({ kind: 'ollama', services: ['api'] });
    headers = await guestHeaders(stack.apiUrl);
  });
  afterAll(() => stack.stop());

  it('says workers_online: 0 instead of waiting silently, and counts a worker once it runs', async () => {
    const { body } = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
      body: { message: '누구 있어요?' },
      headers,
    });
    const v = await view(stack, body.job_id, headers);
    expect(v.status).toBe('queued');
    expect(v.workers_online).toBe(0);
    const ready = await call<{ error: { details: { workers_online: { llm: number } } } }>(
      `${stack.apiUrl}/ready`,
    );
    expect(ready.body.error?.details?.workers_online?.llm ?? 0).toBe(0);
    await stack.start('llm-worker');
    const after = await waitFor(
      () => view(stack, body.job_id, headers),
      (x) => x.status === 'completed',
    );
    expect(after.workers_online).toBe(1);
  });
});
