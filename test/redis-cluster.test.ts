import type { ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, readSse, tokensOf, waitFor } from './support/http.js';
import { RedisCluster } from './support/redis-cluster.js';
import { guestHeaders } from './support/session.js';
import { type Stack, startStack } from './support/stack.js';

describe('on a 3-master Redis Cluster', () => {
  const cluster = new RedisCluster(17_100 + Math.floor(Math.random() * 800));
  let stack: Stack;
  let headers: Record<string, string>;
  beforeAll(async () => {
    await cluster.start();
    stack = await startStack({
      kind: 'vllm',
      sim: { tokenDelayMs: 2 },
      services: ['api', 'llm-worker'],
      env: { REDIS_URL: `redis://127.0.0.1:${cluster.ports[0]}`, REDIS_CLUSTER_NODES: cluster.nodes },
    });
    headers = await guestHeaders(stack.apiUrl);
  }, 60_000);
  afterAll(async () => {
    await stack?.stop().catch(() => {});
    cluster.stop();
  });

  it('runs chat jobs end to end, two turns of one conversation, with SSE', async () => {
    const first = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
      body: { message: '클러스터 안녕' },
      headers,
    });
    expect(first.status).toBe(202);
    const events = await readSse(`${stack.apiUrl}/chat/jobs/${first.body.job_id}/events`, { headers });
    const reply = JSON.parse(events.find((e) => e.event === 'reply')!.data) as { content: string };
    expect(tokensOf(events)).toBe(reply.content);
    const second = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
      body: { message: '두 번째', conversation_id: first.body.conversation_id },
      headers,
    });
    const view = await waitFor(
      () =>
        call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${second.body.job_id}`, { headers }).then((r) => r.body),
      (v) => v.status === 'completed' || v.status === 'failed',
    );
    expect(view.status).toBe('completed');
    const sent = stack.sim.requests().at(-1)!.body as { messages: { role: string }[] };
    expect(sent.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
  });
});
