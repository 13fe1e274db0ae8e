import type { ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, waitFor } from './support/http.js';
import { guestHeaders } from './support/session.js';
import { type Stack, startStack } from './support/stack.js';

/** The value of the series `name` whose labels include every `labels` pair (prom-client adds `service`). */
const value = (text: string, name: string, labels: Record<string, string> = {}): number | null => {
  const line = text
    .split('\n')
    .find(
      (l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)),
    );
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : null;
};

describe('metrics', () => {
  let stack: Stack;
  let headers: Record<string, string>;
  let workerMetricsUrl: string;
  beforeAll(async () => {
    stack = await startStack({ kind: 'vllm', sim: { ttftMs: 10, tokenDelayMs: 2 } });
    headers = await guestHeaders(stack.apiUrl);
    const ready = await stack.processes
      .find((p) => p.name === 'llm-worker')!
      .waitForLog((l) => l.msg === 'llm-worker ready');
    workerMetricsUrl = `http://127.0.0.1:${ready.metricsPort as number}/metrics`;
  });
  afterAll(() => stack.stop());

  it('exposes the named series with real values after a few jobs', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(
        (await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, { body: { message: `m${i}` }, headers }))
          .body.job_id,
      );
    }
    for (const id of ids) {
      await waitFor(
        () => call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${id}`, { headers }).then((r) => r.body.status),
        (s) => s === 'completed',
      );
    }
    const api = await (await fetch(`${stack.apiUrl}/metrics`)).text();
    expect(value(api, 'gateway_workers_online', { kind: 'llm' })).toBe(1);
    expect(value(api, 'gateway_queue_jobs', { queue: 'chat', state: 'wait' })).toBe(0);
    expect(value(api, 'gateway_backend_concurrency_limit')).toBe(12);
    expect(api).toMatch(/gateway_sse_clients\{service="api"\} \d+/);
    expect(
      value(api, 'http_request_duration_seconds_count', {
        method: 'POST',
        route: '/chat/jobs',
        status_code: '202',
      }),
    ).toBe(3);

    const worker = await (await fetch(workerMetricsUrl)).text();
    expect(value(worker, 'gateway_job_queue_wait_seconds_count')).toBe(3);
    expect(value(worker, 'gateway_job_ttft_seconds_count')).toBe(3);
    expect(value(worker, 'gateway_job_generation_seconds_count')).toBe(3);
    expect(value(worker, 'gateway_tokens_generated_total')).toBeGreaterThan(3);
    expect(value(worker, 'gateway_backend_in_flight')).toBe(0);
    expect(value(worker, 'gateway_backend_concurrency_limit')).toBe(12);
    expect(value(worker, 'gateway_jobs_total', { outcome: 'completed' })).toBe(3);
  });

  it('counts backend errors by code', async () => {
    stack.sim.configure({ faults: { errorRate: 1 } });
    const { body } = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
      body: { message: 'fail' },
      headers,
    });
    await waitFor(
      async () =>
        value(await (await fetch(workerMetricsUrl)).text(), 'gateway_backend_errors_total', {
          code: 'backend_server_error',
        }),
      (v) => (v ?? 0) >= 1,
    );
    stack.sim.configure({ faults: { errorRate: 0 } });
    await call(`${stack.apiUrl}/chat/jobs/${body.job_id}`, { method: 'DELETE', headers });
  });
});
