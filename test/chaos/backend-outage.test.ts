import type { ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, waitFor } from '../support/http.js';
import { guestHeaders } from '../support/session.js';
import { type Stack, startStack } from '../support/stack.js';

// The issue asks for a 60 s outage; CHAOS_OUTAGE_SECONDS shortens it for a quick local run.
const OUTAGE_MS = Number(process.env.CHAOS_OUTAGE_SECONDS ?? 60) * 1000;

describe('backend outage under a backlog', () => {
  let stack: Stack;
  let headers: Record<string, string>;
  beforeAll(async () => {
    stack = await startStack({
      kind: 'ollama',
      sim: { ttftMs: 20, tokenDelayMs: 5, replyTokens: 8, capacity: 4 },
      env: {
        LLM_CONCURRENCY: '4',
        BREAKER_PROBE_MS: '500',
        LLM_BACKOFF_MS: '200',
        USER_MAX_ACTIVE_JOBS: '1000',
      },
    });
    headers = await guestHeaders(stack.apiUrl);
  });
  afterAll(() => stack.stop());

  it(
    'fails no job while the backend is down, says so, and drains the backlog in order afterwards',
    async () => {
      await stack.sim.stop();
      const accepted: ChatJobAccepted[] = [];
      for (let i = 0; i < 40; i++) {
        const r = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
          body: { message: `밀린 질문 ${i}` },
          headers,
        });
        expect(r.status).toBe(202);
        accepted.push(r.body);
      }
      // The pool notices, stops taking jobs, and the api tells clients why they wait.
      await waitFor(
        () =>
          call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${accepted.at(-1)!.job_id}`, { headers }).then(
            (r) => r.body,
          ),
        (v) => v.backend?.status === 'down',
        15_000,
      );
      const ready = await call<{ error: { code: string; message: string } }>(`${stack.apiUrl}/ready`);
      expect(ready.status).toBe(503);
      expect(ready.body.error.message).toMatch(/backend/);
      expect(ready.body.error.message).toMatch(/waiting/);

      // The outage lasts OUTAGE_MS; all the while, no job of the backlog fails.
      const outageEnds = Date.now() + OUTAGE_MS;
      do {
        const mid = await Promise.all(
          accepted.map((a) =>
            call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${a.job_id}`, { headers }).then((r) => r.body),
          ),
        );
        expect(mid.filter((v) => v.status === 'failed')).toEqual([]);
      } while (Date.now() < outageEnds);

      await stack.sim.start();
      const views = await Promise.all(
        accepted.map((a) =>
          waitFor(
            () => call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${a.job_id}`, { headers }).then((r) => r.body),
            (v) => ['completed', 'failed', 'cancelled'].includes(v.status),
            60_000,
          ),
        ),
      );
      expect(views.map((v) => v.status)).toEqual(Array(40).fill('completed'));
      // In order: the first half of the backlog started before the second half, on the whole.
      const starts = views.map((v) => Date.parse(v.started_at!));
      const firstHalf = starts.slice(0, 20).sort((a, b) => a - b);
      const secondHalf = starts.slice(20).sort((a, b) => a - b);
      expect(firstHalf[10]!).toBeLessThanOrEqual(secondHalf[10]!);
      expect((await call(`${stack.apiUrl}/ready`)).status).toBe(200);
    },
    OUTAGE_MS + 120_000,
  );
});
