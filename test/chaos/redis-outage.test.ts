import type { ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, readSse, waitFor } from '../support/http.js';
import { RedisServer } from '../support/redis-server.js';
import { guestHeaders } from '../support/session.js';
import { type Stack, startStack } from '../support/stack.js';

describe('Redis killed and restarted under load', () => {
  const redis = new RedisServer(16_000 + Math.floor(Math.random() * 2_000));
  let stack: Stack;
  let headers: Record<string, string>;
  beforeAll(async () => {
    await redis.start();
    stack = await startStack({
      kind: 'vllm',
      sim: { ttftMs: 30, tokenDelayMs: 10, replyTokens: 10 },
      services: ['api', 'llm-worker', 'llm-worker'],
      env: {
        REDIS_URL: redis.url,
        LLM_CONCURRENCY: '6',
        WORKER_LOCK_MS: '3000',
        WORKER_STALLED_INTERVAL_MS: '1000',
        USER_MAX_ACTIVE_JOBS: '1000',
      },
    });
    headers = await guestHeaders(stack.apiUrl);
  });
  afterAll(async () => {
    await stack.stop();
    await redis.stop();
  });

  it('completes every accepted job exactly once; meanwhile the api answers 503 and stays alive', async () => {
    const accepted: ChatJobAccepted[] = [];
    const refused: number[] = [];
    let stop = false;
    const load = (async () => {
      for (let i = 0; !stop && i < 400; i++) {
        try {
          const r = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
            body: { message: `질문 ${i}` },
            headers,
          });
          if (r.status === 202) accepted.push(r.body);
          else refused.push(r.status);
        } catch {
          refused.push(0);
        }
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    await waitFor(
      async () => accepted.length,
      (n) => n >= 40,
    );
    const workers = stack.processes.filter((p) => p.name === 'llm-worker');
    const redisErrors = () =>
      workers.map(
        (p) =>
          p
            .output()
            .split('\n')
            .filter((l) => l.includes('"msg":"worker error"')).length,
      );
    const errorsBefore = redisErrors();
    await redis.kill();
    // While Redis is away: 503 with Retry-After where Redis is needed, /health still 200, /ready 503.
    const down = await call<{ error: { code: string } }>(`${stack.apiUrl}/chat/jobs`, {
      body: { message: 'x' },
      headers,
    });
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('redis_unavailable');
    expect(Number(down.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await call(`${stack.apiUrl}/health`)).status).toBe(200);
    expect((await call(`${stack.apiUrl}/ready`)).status).toBe(503);
    // Redis comes back once every worker has lost its connection to it.
    await waitFor(
      async () => redisErrors(),
      (n) => n.every((errors, i) => errors > errorsBefore[i]!),
      15_000,
    );
    await redis.start();
    await waitFor(
      async () => accepted.length,
      (n) => n >= 80,
      30_000,
    );
    stop = true;
    await load;
    expect(refused.every((s) => s === 503 || s === 0)).toBe(true);

    const views = await Promise.all(
      accepted.map((a) =>
        waitFor(
          () => call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${a.job_id}`, { headers }).then((r) => r.body),
          (v) => v.status === 'completed' || v.status === 'failed',
          60_000,
        ),
      ),
    );
    expect(views.filter((v) => v.status !== 'completed')).toEqual([]);
    for (const a of accepted.slice(0, 60)) {
      const events = await readSse(`${stack.apiUrl}/chat/jobs/${a.job_id}/events`, { headers });
      expect(events.filter((e) => e.event === 'reply')).toHaveLength(1);
      expect(events.filter((e) => e.event === 'done')).toHaveLength(1);
    }
    // All processes are still the ones we started: nobody needed a restart.
    expect(stack.processes.every((p) => p.proc.exitCode === null)).toBe(true);
  }, 120_000);
});
