import type { ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, readSse, tokensOf, waitFor } from './support/http.js';
import { guestHeaders } from './support/session.js';
import { type Stack, startStack, stopProcess } from './support/stack.js';

const ended = (s: string) => ['completed', 'failed', 'cancelled'].includes(s);

describe('global GPU throttle across worker processes', () => {
  let stack: Stack;
  let headers: Record<string, string>;
  beforeAll(async () => {
    stack = await startStack({
      kind: 'vllm',
      sim: { ttftMs: 40, tokenDelayMs: 5, replyTokens: 12 },
      services: ['api', 'llm-worker', 'llm-worker'],
      // One guest submits the whole burst: lift the per-user cap (USER_MAX_ACTIVE_JOBS, default 20).
      env: { LLM_CONCURRENCY: '3', WORKER_CONCURRENCY: '10', USER_MAX_ACTIVE_JOBS: '1000' },
    });
    headers = await guestHeaders(stack.apiUrl);
  });
  afterAll(() => stack.stop());

  it('never has more than LLM_CONCURRENCY requests at the backend, and completes every job', async () => {
    stack.sim.resetStats();
    const accepted = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, { body: { message: `질문 ${i}` }, headers }),
      ),
    );
    expect(accepted.every((r) => r.status === 202)).toBe(true);
    const views = await Promise.all(
      accepted.map((r) =>
        waitFor(
          () =>
            call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${r.body.job_id}`, { headers }).then((v) => v.body),
          (v) => ended(v.status),
          30_000,
        ),
      ),
    );
    expect(views.map((v) => v.status)).toEqual(Array(30).fill('completed'));
    expect(stack.sim.stats().maxInFlight).toBe(3);
    expect(stack.sim.stats().completed).toBe(30);
  });
});

describe('a worker killed mid-job', () => {
  let stack: Stack;
  let headers: Record<string, string>;
  beforeAll(async () => {
    stack = await startStack({
      kind: 'ollama',
      sim: { ttftMs: 10, tokenDelayMs: 60, replyTokens: 30 },
      services: ['api', 'llm-worker'],
      env: { WORKER_LOCK_MS: '1500', WORKER_STALLED_INTERVAL_MS: '1000' },
    });
    headers = await guestHeaders(stack.apiUrl);
  });
  afterAll(() => stack.stop());

  it('is recovered by another worker: the job completes with one reply', async () => {
    const { body } = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
      body: { message: '긴 대답을 부탁해요' },
      headers,
    });
    await waitFor(
      () =>
        call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${body.job_id}`, { headers }).then((r) => r.body.status),
      (s) => s === 'running',
    );
    // Mid-reply: some text has reached the client.
    await readSse(`${stack.apiUrl}/chat/jobs/${body.job_id}/events`, {
      headers,
      until: (_e, all) => all.filter((x) => x.event === 'token').length >= 3,
    });
    const victim = stack.processes.find((p) => p.name === 'llm-worker')!;
    await stopProcess(victim, 'SIGKILL');
    await stack.start('llm-worker');
    const view = await waitFor(
      () => call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${body.job_id}`, { headers }).then((r) => r.body),
      (v) => ended(v.status),
      30_000,
    );
    expect(view.status).toBe('completed');
    expect(view.attempt).toBe(2);
    const events = await readSse(`${stack.apiUrl}/chat/jobs/${body.job_id}/events`, { headers });
    expect(events.filter((e) => e.event === 'reply')).toHaveLength(1);
    expect(events.filter((e) => e.event === 'done')).toHaveLength(1);
    // The restart is announced, and the text after it is exactly the reply.
    const restart = events.findLastIndex((e) => e.event === 'status' && JSON.parse(e.data).attempt === 2);
    expect(restart).toBeGreaterThan(0);
    expect(tokensOf(events.slice(restart))).toBe(view.reply!.content);
    const conv = await call<{ messages: { role: string }[] }>(
      `${stack.apiUrl}/conversations/${body.conversation_id}`,
      {
        headers,
      },
    );
    expect(conv.body.messages.filter((m) => m.role === 'assistant')).toHaveLength(1);
  });
});
