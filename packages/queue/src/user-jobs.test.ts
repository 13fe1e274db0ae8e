import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeys } from './keys.js';
import { createRedis } from './redis.js';
import { UserJobCounter } from './user-jobs.js';

const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'blocking');
const keys = createKeys(`t${randomUUID().slice(0, 8)}`);
const counter = new UserJobCounter(redis, keys, 60);

afterAll(async () => {
  const all = await redis.keys(`${keys.prefix}:*`);
  if (all.length) await redis.del(...all);
  redis.disconnect();
});

const setStatus = (id: string, status: string) => redis.hset(keys.job(id), 'status', status);

describe('UserJobCounter', () => {
  it('caps a parallel burst exactly at the limit, per user', async () => {
    const ids = Array.from({ length: 12 }, () => randomUUID());
    await Promise.all(ids.map((id) => setStatus(id, 'queued')));
    const slots = await Promise.all(ids.map((id) => counter.acquire('burst', id, 5)));
    expect(slots.filter((s) => s.acquired)).toHaveLength(5);
    expect(slots.filter((s) => !s.acquired).every((s) => s.active === 5)).toBe(true);
    expect((await counter.acquire('other', randomUUID(), 5)).acquired).toBe(true);
  });

  it('releases idempotently and counts a re-acquired job once', async () => {
    const id = randomUUID();
    await setStatus(id, 'queued');
    expect(await counter.acquire('idem', id, 3)).toMatchObject({ acquired: true, active: 1 });
    expect(await counter.acquire('idem', id, 3)).toMatchObject({ acquired: true, active: 1 });
    await counter.release('idem', id);
    await counter.release('idem', id);
    expect(await counter.active('idem')).toBe(0);
  });

  it('drops slots of jobs that ended without a release once the cap is reached', async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await setStatus(a, 'running');
    await setStatus(b, 'queued');
    await setStatus(c, 'queued');
    await counter.acquire('heal', a, 2);
    await counter.acquire('heal', b, 2);
    expect((await counter.acquire('heal', c, 2)).acquired).toBe(false);
    await setStatus(a, 'failed');
    expect(await counter.acquire('heal', c, 2)).toMatchObject({ acquired: true, active: 2 });
  });

  it('holds a user to a byte budget for the requests of their active jobs, and frees it as jobs end', async () => {
    const limits = { jobs: 100, bytes: 2_500 };
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await Promise.all([a, b, c].map((id) => setStatus(id, 'queued')));
    expect((await counter.acquire('bytes', a, limits, 1_000)).acquired).toBe(true);
    expect((await counter.acquire('bytes', b, limits, 1_000)).acquired).toBe(true);
    const refused = await counter.acquire('bytes', c, limits, 1_000);
    expect(refused).toMatchObject({ acquired: false, refusedBy: 'bytes', bytes: 2_000 });
    await counter.release('bytes', a);
    expect(await counter.acquire('bytes', c, limits, 1_000)).toMatchObject({ acquired: true, bytes: 2_000 });
  });

  it('keeps both keys under a TTL, pushing it back once it has run down by a tenth', async () => {
    const limits = { jobs: 10, bytes: 10_000 };
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await Promise.all([a, b, c].map((id) => setStatus(id, 'queued')));
    const set = keys.userActiveJobs('ttl');
    const hash = keys.userRequestBytes('ttl');
    await counter.acquire('ttl', a, limits, 100);
    expect(await redis.ttl(set)).toBeGreaterThan(50);
    expect(await redis.ttl(hash)).toBeGreaterThan(50);
    // Run down by less than a tenth: the next acquire leaves the TTLs as they are.
    await Promise.all([redis.expire(set, 57), redis.expire(hash, 57)]);
    await counter.acquire('ttl', b, limits, 100);
    expect(await redis.ttl(hash)).toBeLessThanOrEqual(57);
    // The last push is a tenth of the TTL old: the next acquire pushes both back.
    await redis.hset(hash, '#exp', Date.now() - 7_000);
    await Promise.all([redis.expire(set, 5), redis.expire(hash, 5)]);
    await counter.acquire('ttl', c, limits, 100);
    expect(await redis.ttl(set)).toBeGreaterThan(50);
    expect(await redis.ttl(hash)).toBeGreaterThan(50);
    // Every job ended: the set is gone; the next job's set is new and gets its TTL at once.
    await Promise.all([a, b, c].map((id) => counter.release('ttl', id)));
    await counter.acquire('ttl', randomUUID(), limits, 100);
    expect(await redis.ttl(set)).toBeGreaterThan(50);
  });
});
