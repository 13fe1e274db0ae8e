/**
 * What work costs Redis, read from Redis itself: commands (INFO commandstats, scripts' inner commands
 * included), process CPU (INFO cpu, user + sys) and memory. Used by the `redis` bench scenario and by
 * test/redis-budget.test.ts, always on a private redis-server so that nothing else is counted.
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';

export interface CommandStat {
  calls: number;
  usec: number;
}

/** Calls and execution time per command since the last CONFIG RESETSTAT. */
export async function commandStats(redis: Redis): Promise<Map<string, CommandStat>> {
  const text = await redis.info('commandstats');
  const out = new Map<string, CommandStat>();
  for (const line of text.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

export const totalCalls = (s: Map<string, CommandStat>, except: string[] = []) =>
  [...s].reduce((n, [name, v]) => (except.includes(name) ? n : n + v.calls), 0);

/** The Redis process's CPU time (user + sys) in microseconds. */
export async function redisCpuMicros(redis: Redis): Promise<number> {
  const text = await redis.info('cpu');
  const get = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
  return Math.round((get('used_cpu_user') + get('used_cpu_sys')) * 1e6);
}

export async function usedMemory(redis: Redis): Promise<number> {
  const text = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(text)?.[1] ?? 0);
}

export interface Cost {
  /** Commands per unit of work (job or token), scripts' inner commands counted. */
  commands: number;
  /** Redis process CPU per unit, µs. */
  cpuUs: number;
  /** Commands by name, summed over the run. */
  byCommand: Record<string, number>;
  /** Execution time by command name (µs, commandstats), summed over the run. */
  usecByCommand: Record<string, number>;
}

/**
 * Measures `work` (which does `units` units): resets the counters, runs it, and divides. INFO, CONFIG and
 * the reads of this function are left out of the figures.
 */
export async function measure(redis: Redis, units: number, work: () => Promise<void>): Promise<Cost> {
  await redis.config('RESETSTAT');
  const cpu0 = await redisCpuMicros(redis);
  await work();
  const cpu1 = await redisCpuMicros(redis);
  const stats = await commandStats(redis);
  const ignore = ['info', 'config'];
  const byCommand: Record<string, number> = {};
  const usecByCommand: Record<string, number> = {};
  for (const [name, v] of stats) {
    if (ignore.includes(name)) continue;
    byCommand[name] = v.calls;
    usecByCommand[name] = v.usec;
  }
  return {
    commands: totalCalls(stats, ignore) / units,
    cpuUs: (cpu1 - cpu0) / units,
    byCommand,
    usecByCommand,
  };
}

/**
 * The baseline: bare BullMQ doing the same queue work as a chat job, one job after another. A Queue adds a
 * job (prioritized, like a fair-share ticket), a Worker under the queue's global concurrency processes it
 * with a no-op and removes it on completion.
 */
export async function bareBullmq(
  url: string,
  jobs: number,
  opts: { concurrency?: number; warmup?: number } = {},
): Promise<Cost> {
  const prefix = `bare${randomUUID().slice(0, 8)}`;
  const conn = () => new Redis(url, { maxRetriesPerRequest: null });
  const qc = conn();
  const wc = conn();
  const probe = conn();
  const queue = new Queue('bare', { connection: qc, prefix });
  await queue.setGlobalConcurrency(opts.concurrency ?? 8);
  let done: (() => void) | null = null;
  const worker = new Worker('bare', async () => ({ ok: true }), {
    connection: wc,
    prefix,
    concurrency: opts.concurrency ?? 8,
  });
  worker.on('completed', () => done?.());
  await worker.waitUntilReady();
  const one = async (i: number) => {
    const finished = new Promise<void>((r) => {
      done = r;
    });
    await queue.add(
      'job',
      { i, message: 'hello' },
      { jobId: randomUUID(), priority: 1 + (i % 16), removeOnComplete: true, attempts: 3 },
    );
    await finished;
  };
  try {
    for (let i = 0; i < (opts.warmup ?? 3); i++) await one(i);
    return await measure(probe, jobs, async () => {
      for (let i = 0; i < jobs; i++) await one(i);
    });
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    for (const c of [qc, wc, probe]) c.disconnect();
  }
}

/** Bytes of Redis memory per waiting bare BullMQ job (prioritized, no worker). */
export async function bareBytesPerWaitingJob(url: string, jobs: number): Promise<number> {
  const prefix = `bare${randomUUID().slice(0, 8)}`;
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const queue = new Queue('bare', { connection: redis, prefix });
  try {
    await queue.waitUntilReady();
    const before = await usedMemory(redis);
    for (let i = 0; i < jobs; i += 500) {
      await queue.addBulk(
        Array.from({ length: Math.min(500, jobs - i) }, (_, k) => ({
          name: 'job',
          data: { i: i + k, message: 'hello' },
          opts: { jobId: randomUUID(), priority: 1 + ((i + k) % 16), removeOnComplete: true, attempts: 3 },
        })),
      );
    }
    return ((await usedMemory(redis)) - before) / jobs;
  } finally {
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    redis.disconnect();
  }
}
