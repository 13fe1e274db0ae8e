import type { ChatJobAccepted, ChatJobView, ConversationView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, readSse, tokensOf, waitFor } from '../support/http.js';
import { guestHeaders } from '../support/session.js';
import { type RunningProcess, type Stack, startStack } from '../support/stack.js';

const FAST_RECOVERY = { WORKER_LOCK_MS: '1500', WORKER_STALLED_INTERVAL_MS: '700' };
const ended = (v: ChatJobView) => ['completed', 'failed', 'cancelled'].includes(v.status);

describe('a worker SIGKILLed at each point of a job', () => {
  let stack: Stack;
  let headers: Record<string, string>;
  beforeAll(async () => {
    stack = await startStack({
      kind: 'ollama',
      sim: { ttftMs: 10, tokenDelayMs: 20, replyTokens: 12 },
      services: ['api'],
      env: FAST_RECOVERY,
    });
    headers = await guestHeaders(stack.apiUrl);
  });
  afterAll(() => stack.stop());

  for (const point of ['before_backend', 'mid_stream', 'after_store'] as const) {
    it(`${point}: the job completes with exactly one reply`, async () => {
      const doomed = await stack.start('llm-worker', { GATEWAY_FAILPOINTS: point });
      const { body } = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
        body: { message: `${point}?` },
        headers,
      });
      await doomed.exited;
      const healthy = await stack.start('llm-worker');
      const view = await waitFor(
        () => call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${body.job_id}`, { headers }).then((r) => r.body),
        ended,
        30_000,
      );
      expect(view.status).toBe('completed');
      const events = await readSse(`${stack.apiUrl}/chat/jobs/${body.job_id}/events`, { headers });
      expect(events.filter((e) => e.event === 'reply')).toHaveLength(1);
      expect(events.filter((e) => e.event === 'done')).toHaveLength(1);
      const lastStart = events.findLastIndex(
        (e) => e.event === 'status' && JSON.parse(e.data).status === 'running',
      );
      expect(tokensOf(events.slice(lastStart))).toBe(view.reply!.content);
      const conv = await call<ConversationView>(`${stack.apiUrl}/conversations/${body.conversation_id}`, {
        headers,
      });
      expect(conv.body.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
      healthy.proc.kill('SIGTERM');
      await healthy.exited;
    });
  }

  it('a job that kills its worker every time fails after maxStalledCount with a clear error', async () => {
    const { body } = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
      body: { message: 'poison' },
      headers,
    });
    // The poisoned worker may take the job (and die of it) before it logs that it is ready: that start
    // counts as one crash, not as a failed start.
    const startPoisoned = () =>
      stack
        .start('llm-worker', { GATEWAY_FAILPOINTS: 'before_backend', WORKER_MAX_STALLED: '1' })
        .catch((err: unknown) => {
          if (/exited with \S+ before it was ready/.test(String(err))) return null;
          throw err;
        });
    let current: RunningProcess | null = await startPoisoned();
    const view = await waitFor(
      async () => {
        if (!current || current.proc.exitCode !== null || current.proc.signalCode !== null) {
          current = await startPoisoned();
        }
        return call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${body.job_id}`, { headers }).then((r) => r.body);
      },
      ended,
      45_000,
    );
    expect(view.status).toBe('failed');
    expect(view.error?.code).toBe('job_stalled');
    current?.proc.kill('SIGKILL');
  }, 60_000);
});
