import type { ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, waitFor } from '../support/http.js';
import { guestHeaders } from '../support/session.js';
import { type Stack, startStack, stopProcess } from '../support/stack.js';

describe('graceful shutdown', () => {
  let stack: Stack;
  let headers: Record<string, string>;
  beforeAll(async () => {
    stack = await startStack({ kind: 'vllm', sim: { ttftMs: 20, tokenDelayMs: 80, replyTokens: 20 } });
    headers = await guestHeaders(stack.apiUrl);
  });
  afterAll(() => stack.stop());

  it('a worker finishes the job in hand on SIGTERM, with no stall and no second attempt', async () => {
    const { body } = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
      body: { message: '천천히' },
      headers,
    });
    await waitFor(
      () =>
        call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${body.job_id}`, { headers }).then((r) => r.body.status),
      (s) => s === 'running',
    );
    const worker = stack.processes.find((p) => p.name === 'llm-worker')!;
    const t0 = Date.now();
    await stopProcess(worker, 'SIGTERM');
    expect(await worker.exited).toBe(0);
    const view = (await call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${body.job_id}`, { headers })).body;
    expect(view.status).toBe('completed');
    expect(view.attempt).toBe(1);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await stack.start('llm-worker');
  });

  it('the api ends SSE streams with a retry hint and exits within its bound on SIGTERM', async () => {
    stack.sim.configure({ ttftMs: 5_000 });
    const { body } = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
      body: { message: '기다려요' },
      headers,
    });
    const res = await fetch(`${stack.apiUrl}/chat/jobs/${body.job_id}/events`, { headers });
    const reader = res.body!.getReader();
    const api = stack.processes.find((p) => p.name === 'api')!;
    const t0 = Date.now();
    api.proc.kill('SIGTERM');
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toMatch(/retry: \d+\n\n$/);
    expect(await api.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    stack.sim.configure({ ttftMs: 20 });
  });
});
