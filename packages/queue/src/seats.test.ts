import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Job, Queue, Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeys } from './keys.js';
import { createRedis } from './redis.js';
import { ServerSeats } from './seats.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = createRedis(url, 'blocking');
const CAP = 4;

const connections: ReturnType<typeof redis.duplicate>[] = [];
const connection = () => {
  const c = redis.duplicate();
  connections.push(c);
  return c;
};

afterAll(async () => {
  for (const c of connections) c.disconnect();
  redis.disconnect();
});

/** A fresh key prefix with one server `s` of cap 4, its BullMQ queue, and a cleaner. */
function setup() {
  const keys = createKeys(`t${randomUUID().slice(0, 8)}`);
  const server = 's';
  const name = keys.chatQueue(server);
  const seats = new ServerSeats(redis, keys, server, CAP, { min: 5, max: 20 });
  const queue = new Queue(name, { connection: redis, prefix: keys.prefix });
  const lock = (id: string) => `${keys.bullJobPrefix(name)}${id}:lock`;
  const concurrency = async () => Number(await redis.hget(keys.bull(name, 'meta'), 'concurrency'));
  const clean = async () => {
    seats.stop();
    await queue.close();
    const all = await redis.keys(`${keys.prefix}:*`);
    if (all.length) await redis.del(...all);
  };
  return { keys, name, seats, queue, lock, concurrency, clean };
}

describe('ServerSeats', () => {
  it('keeps the sequences in flight within the cap over workers and widths, and gives every seat back', async () => {
    const t = setup();
    try {
      await t.seats.reconcile();
      let inFlight = 0;
      let peak = 0;
      const started: number[] = [];
      const work = async (job: Job<{ n: number; i: number }>, token?: string, signal?: AbortSignal) => {
        const held = await t.seats.take(job.id!, token ?? '', job.data.n, signal);
        try {
          inFlight += job.data.n;
          peak = Math.max(peak, inFlight);
          started.push(job.data.i);
          // The backend generating: long enough for jobs to overlap.
          await sleep(15);
          inFlight -= job.data.n;
        } finally {
          await held.release();
        }
      };
      const opts = { connection: connection(), prefix: t.keys.prefix, concurrency: CAP };
      const workers = [
        new Worker(t.name, work, opts),
        new Worker(t.name, work, { ...opts, connection: connection() }),
      ];
      const widths = Array.from({ length: 40 }, (_, i) => [1, 3, 1, 2, 4, 1, 1, 3][i % 8]!);
      const done = new Promise<void>((resolve) => {
        let left = widths.length;
        for (const w of workers) w.on('completed', () => --left === 0 && resolve());
      });
      await t.queue.addBulk(
        widths.map((n, i) => ({ name: 'chat', data: { n, i }, opts: { jobId: `j${i}` } })),
      );
      await done;
      await Promise.all(workers.map((w) => w.close()));
      expect(started.sort((a, b) => a - b)).toEqual(widths.map((_, i) => i));
      expect(peak).toBeLessThanOrEqual(CAP);
      // Every seat given back: the queue runs CAP jobs at once again, and no holder is left.
      expect(await t.concurrency()).toBe(CAP);
      expect(await redis.exists(t.keys.seats('s'))).toBe(0);
    } finally {
      await t.clean();
    }
  });

  it('lets a wide job in before the single jobs queued after it (no starvation)', async () => {
    const t = setup();
    try {
      await t.seats.reconcile();
      const order: string[] = [];
      const work = async (job: Job<{ n: number }>, token?: string, signal?: AbortSignal) => {
        const held = await t.seats.take(job.id!, token ?? '', job.data.n, signal);
        order.push(job.id!);
        await sleep(10);
        await held.release();
      };
      const worker = new Worker(t.name, work, {
        connection: connection(),
        prefix: t.keys.prefix,
        concurrency: CAP,
      });
      const ids = [
        ...Array.from({ length: 8 }, (_, i) => `before${i}`),
        'wide',
        ...Array.from({ length: 16 }, (_, i) => `after${i}`),
      ];
      const done = new Promise<void>((resolve) => {
        let left = ids.length;
        worker.on('completed', () => --left === 0 && resolve());
      });
      await t.queue.addBulk(
        ids.map((id) => ({ name: 'chat', data: { n: id === 'wide' ? CAP : 1 }, opts: { jobId: id } })),
      );
      await done;
      await worker.close();
      // Once the wide job is taken, no later job starts until it has: it waits only for running ones.
      const afterStartedFirst = order.slice(0, order.indexOf('wide')).filter((id) => id.startsWith('after'));
      expect(afterStartedFirst.length).toBeLessThan(CAP);
      expect(await t.concurrency()).toBe(CAP);
    } finally {
      await t.clean();
    }
  });

  it('gives back the seats of a job whose worker died, once its lock lapses', async () => {
    const t = setup();
    try {
      // What a SIGKILLed worker leaves: a held entry and a lock nobody renews.
      await redis.set(t.lock('dead'), 'tok-1', 'PX', 300);
      const held = await t.seats.take('dead', 'tok-1', 3);
      expect(held).toBeDefined();
      expect(await t.concurrency()).toBe(CAP - 2);
      while ((await redis.exists(t.lock('dead'))) === 1) await sleep(20);
      expect(await t.seats.reconcile()).toBe(CAP);
      expect(await redis.hget(t.keys.seats('s'), 'dead')).toBeNull();
    } finally {
      await t.clean();
    }
  });

  it("forgets a job's old entry when another worker runs it with a new lock token", async () => {
    const t = setup();
    try {
      await redis.set(t.lock('j'), 'old', 'PX', 10_000);
      await t.seats.take('j', 'old', 4);
      expect(await t.concurrency()).toBe(CAP - 3);
      // The stalled job runs again elsewhere: BullMQ locks it with that worker's token.
      await redis.set(t.lock('j'), 'new', 'PX', 10_000);
      const again = await t.seats.take('j', 'new', 2);
      expect(await t.concurrency()).toBe(CAP - 1);
      // The old worker can no longer take seats for it.
      await expect(t.seats.take('j', 'old', 2)).rejects.toMatchObject({ code: 'cancelled' });
      await again.release();
      expect(await t.concurrency()).toBe(CAP);
    } finally {
      await t.clean();
    }
  });

  it('stops waiting when the job is cancelled, and gives its seats back', async () => {
    const t = setup();
    try {
      await redis.set(t.lock('a'), 'ta', 'PX', 10_000);
      await redis.set(t.lock('b'), 'tb', 'PX', 10_000);
      const a = await t.seats.take('a', 'ta', 3);
      const cancel = new AbortController();
      const waiting = t.seats.take('b', 'tb', 3, cancel.signal);
      // b registered and waits: the queue runs no other job meanwhile.
      while ((await redis.hget(t.keys.seats('s'), 'b')) === null) await sleep(5);
      expect(await t.concurrency()).toBe(0);
      cancel.abort(new Error('stop'));
      await expect(waiting).rejects.toThrow('stop');
      expect(await t.concurrency()).toBe(CAP - 2);
      await a.release();
      await a.release();
      expect(await t.concurrency()).toBe(CAP);
    } finally {
      await t.clean();
    }
  });

  it('holds nothing for one sequence, and the whole cap for more than it', async () => {
    const t = setup();
    try {
      await t.seats.reconcile();
      await t.seats.take('one', 'x', 1);
      expect(await redis.exists(t.keys.seats('s'))).toBe(0);
      await redis.set(t.lock('huge'), 'th', 'PX', 10_000);
      const held = await t.seats.take('huge', 'th', 8);
      // Its own BullMQ slot plus CAP - 1 extra seats: no other job starts beside it.
      expect(await t.concurrency()).toBe(1);
      await held.release();
      expect(await t.concurrency()).toBe(CAP);
    } finally {
      await t.clean();
    }
  });
});
