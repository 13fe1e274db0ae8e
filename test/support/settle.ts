import { createChatQueue, createKeys, createTtsQueue } from '@gateway/queue';
import { call, waitFor } from './http.js';
import type { RunningProcess, Stack } from './stack.js';

/**
 * Resolves once neither the chat nor the TTS queue holds a job that is waiting, delayed or running: every
 * job handed to the workers so far has ended. A worker logs a job's end and enqueues what follows it (the
 * next turn, its speech) before BullMQ takes the job off the active list, so nothing is still on its way.
 */
export async function queuesIdle(stack: Stack, timeoutMs = 30_000): Promise<void> {
  const keys = createKeys(stack.prefix);
  const queues = [createChatQueue(stack.redis, keys), createTtsQueue(stack.redis, keys)];
  try {
    await waitFor(
      async () => {
        const counts = await Promise.all(
          queues.map((q) => q.getJobCounts('active', 'waiting', 'prioritized', 'delayed')),
        );
        return counts.flatMap((c) => Object.values(c)).reduce((a, b) => a + b, 0);
      },
      (busy) => busy === 0,
      timeoutMs,
    );
  } finally {
    await Promise.all(queues.map((q) => q.close()));
  }
}

/**
 * Sends one request that no test makes otherwise and waits for the api's log line of it: every line the
 * api wrote about the requests answered before it has been read from its output by then.
 */
export async function apiLogsCaughtUp(stack: Stack, api: RunningProcess): Promise<void> {
  const marker = `/health?settle=${Math.random().toString(36).slice(2)}`;
  await call(`${stack.apiUrl}${marker}`);
  await api.waitForLog((l) => l['msg'] === 'request' && l['url'] === marker);
}
