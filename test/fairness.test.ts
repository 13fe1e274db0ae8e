import type { ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, readSse, waitFor } from './support/http.js';
import { guestHeaders } from './support/session.js';
import { type Stack, startStack } from './support/stack.js';

const JOB_MS = 60; // ttft 20 + 4 tokens × 10 ms
const view = (stack: Stack, id: string, headers: Record<string, string>) =>
  call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${id}`, { headers }).then((r) => r.body);

describe('fair share of the GPU', () => {
  let stack: Stack;
  let userA: Record<string, string>;
  let userB: Record<string, string>;
  beforeAll(async () => {
    stack = await startStack({
      kind: 'vllm',
      sim: { ttftMs: 20, tokenDelayMs: 10, replyTokens: 4, capacity: 2 },
      env: { LLM_CONCURRENCY: '2', USER_MAX_ACTIVE_JOBS: '1000' },
    });
    [userA, userB] = await Promise.all([guestHeaders(stack.apiUrl), guestHeaders(stack.apiUrl)]);
  });
  afterAll(() => stack.stop());

  it("starts a newcomer's job before a heavy user's backlog; every job completes once", async () => {
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
    if (bView.status === 'queued') expect(bView.queue_position).toBeLessThanOrEqual(2);
    const bDone = await waitFor(
      () => view(stack, b.job_id, userB!),
      (v) => v.status === 'completed',
      30_000,
    );
    const bStart = Date.parse(bDone.started_at!);
    // A's jobs still waiting when B arrived all started after B (allow the one slot that freed first).
    const aViews = await Promise.all(
      a.map((j) =>
        waitFor(
          () => view(stack, j.job_id, userA!),
          (v) => v.status === 'completed',
          60_000,
        ),
      ),
    );
    const bCreated = Date.parse(bDone.created_at);
    const waitingWhenBArrived = aViews.filter((v) => Date.parse(v.started_at!) > bCreated);
    expect(waitingWhenBArrived.length).toBeGreaterThan(100);
    // None of them went first (one may tie with B on the millisecond clock of two processes).
    expect(waitingWhenBArrived.filter((v) => Date.parse(v.started_at!) < bStart).length).toBeLessThanOrEqual(
      1,
    );
    // At most about one job-time of wait at capacity.
    expect(bStart - bCreated).toBeLessThan(JOB_MS * 3);
    // Exactly one reply each.
    const events = await readSse(`${stack.apiUrl}/chat/jobs/${a[100]!.job_id}/events`, { headers: userA! });
    expect(events.filter((e) => e.event === 'reply')).toHaveLength(1);
    expect(stack.sim.stats().completed).toBeGreaterThanOrEqual(201);
  }, 90_000);

  it('estimates when a job in a steady backlog starts, within 25%', async () => {
    // Warm the moving average of job time, then queue a backlog of one user's jobs.
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      ids.push(
        (
          await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
            body: { message: `E${i}` },
            headers: userA!,
          })
        ).body.job_id,
      );
    }
    // Let ten jobs of the backlog through, so that the slot gap is measured on this backlog.
    await waitFor(
      () => view(stack, ids[9]!, userA!),
      (v) => v.status === 'completed',
      20_000,
    );
    const probeId = ids[50]!;
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
