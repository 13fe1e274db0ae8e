/** Bulk reads of job records straight from Redis (20,000 GETs through the api would take longer than the run). */
import type { Keys } from '@gateway/queue';
import type { Redis } from 'ioredis';

export interface JobTimes {
  id: string;
  owner: string;
  status: string;
  attempt: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export async function readJobs(redis: Redis, keys: Keys, ids: readonly string[]): Promise<JobTimes[]> {
  const out: JobTimes[] = [];
  for (let i = 0; i < ids.length; i += 1000) {
    const batch = ids.slice(i, i + 1000);
    const pipe = redis.pipeline();
    for (const id of batch)
      pipe.hmget(keys.job(id), 'owner', 'status', 'attempt', 'created_at', 'started_at', 'finished_at');
    const res = (await pipe.exec()) ?? [];
    batch.forEach((id, j) => {
      const v = (res[j]?.[1] ?? []) as (string | null)[];
      const n = (x: string | null | undefined) => (x ? Number(x) : null);
      out.push({
        id,
        owner: v[0] ?? '',
        status: v[1] ?? 'missing',
        attempt: Number(v[2] ?? 0),
        createdAt: Number(v[3] ?? 0),
        startedAt: n(v[4]),
        finishedAt: n(v[5]),
      });
    });
  }
  return out;
}

export function countBy<T>(xs: readonly T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}

/** Redis `used_memory` in bytes. */
export async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

/** Waits until `done()` says so, polling; returns false on timeout. */
export async function poll(done: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await done()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return done();
}
