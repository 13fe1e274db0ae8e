/**
 * USER_MAX_QUEUED_BYTES: one user's queued and running jobs may hold only so many bytes of requests in
 * Redis. No llm-worker runs, so submitted jobs stay queued.
 */
import type { ChatJobAccepted } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestSession } from './support/auth.js';
import { call } from './support/http.js';
import { type Stack, startStack } from './support/stack.js';

describe('a per-user byte budget for stored requests', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      kind: 'vllm',
      services: ['api'],
      env: { USER_MAX_QUEUED_BYTES: '5000', USER_MAX_ACTIVE_JOBS: '50' },
    });
  });
  afterAll(() => stack?.stop());

  it('refuses a submit that would pass it with 429 user_job_limit, and takes one again after a cancel', async () => {
    const { headers } = await guestSession(stack.apiUrl);
    const submit = () =>
      call<ChatJobAccepted & { error?: { code: string; details?: { scope?: string } } }>(
        `${stack.apiUrl}/chat/jobs`,
        { body: { message: 'x'.repeat(2_000) }, headers },
      );
    const first = await submit();
    const second = await submit();
    expect([first.status, second.status]).toEqual([202, 202]);
    const third = await submit();
    expect(third.status).toBe(429);
    expect(third.body.error?.code).toBe('user_job_limit');
    expect(third.body.error?.details?.scope).toBe('bytes');
    // Another user has a budget of their own.
    const other = await guestSession(stack.apiUrl);
    const theirs = await call(`${stack.apiUrl}/chat/jobs`, {
      body: { message: 'x'.repeat(2_000) },
      headers: other.headers,
    });
    expect(theirs.status).toBe(202);
    const cancelled = await call(`${stack.apiUrl}/chat/jobs/${first.body.job_id}`, {
      method: 'DELETE',
      headers,
    });
    expect(cancelled.status).toBeLessThan(300);
    expect((await submit()).status).toBe(202);
  });
});
