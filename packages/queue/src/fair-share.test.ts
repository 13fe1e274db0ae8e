import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { FairShare } from './fair-share.js';
import { createKeys } from './keys.js';
import { createRedis } from './redis.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = createRedis(url, 'blocking');
const keys = createKeys(`t${randomUUID().slice(0, 8)}`);

afterAll(async () => {
  const all = await redis.keys(`${keys.prefix}:*`);
  if (all.length) await redis.del(...all);
  redis.disconnect();
});

/** Adds jobs as the dispatcher does, then lets one slot serve them; returns owners in the order served. */
async function serve(fair: FairShare, submissions: string[], take: number): Promise<string[]> {
  const name = `fair-${randomUUID().slice(0, 8)}`;
  const queue = new Queue(name, { connection: redis, prefix: keys.prefix });
  await queue.setGlobalConcurrency(1);
  for (const owner of submissions) {
    const priority = await fair.enqueue(owner);
    await queue.add('chat', { owner }, { ...(priority ? { priority } : {}), removeOnComplete: true });
  }
  const order: string[] = [];
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  const worker = new Worker<{ owner: string }>(
    name,
    async (job) => {
      await fair.leave(job.data.owner);
      order.push(job.data.owner);
      if (order.length === take) resolveDone();
    },
    { connection: redis, prefix: keys.prefix, concurrency: 1 },
  );
  await done;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return order;
}

const jain = (xs: number[]) =>
  xs.reduce((a, b) => a + b, 0) ** 2 / (xs.length * xs.reduce((a, b) => a + b * b, 0));

describe('FairShare', () => {
  it("serves a newcomer's job before a heavy user's backlog, and keeps each user's own order", async () => {
    const fair = new FairShare(redis, keys, true);
    const order = await serve(fair, [...Array(40).fill('A'), 'B'], 41);
    expect(order.indexOf('B')).toBeLessThanOrEqual(1);
    const fifo = await serve(new FairShare(redis, keys, false), [...Array(40).fill('A2'), 'B2'], 41);
    expect(fifo.indexOf('B2')).toBe(40);
  });

  it('gives backlogged users equal shares (Jain index >= 0.95), weights 2:1 within 10%', async () => {
    const fair = new FairShare(redis, keys, true);
    // Ten users with very different backlogs, submitted in bursts one after the other.
    const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
    const submissions = users.flatMap((u, i) => Array(10 + i * 6).fill(u) as string[]);
    const order = await serve(fair, submissions, 100);
    const share = users.map((u) => order.filter((o) => o === u).length);
    expect(jain(share)).toBeGreaterThanOrEqual(0.95);

    await fair.setWeight('heavy', 2);
    const weighted = await serve(fair, [...Array(60).fill('heavy'), ...Array(60).fill('light')], 60);
    const heavy = weighted.filter((o) => o === 'heavy').length;
    const light = weighted.length - heavy;
    expect(heavy / light).toBeGreaterThanOrEqual(1.8);
    expect(heavy / light).toBeLessThanOrEqual(2.2);
  });
});
