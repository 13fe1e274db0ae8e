import { randomUUID } from 'node:crypto';
import { isGatewayError } from '@gateway/contracts';
import { createKeys, createRedis } from '@gateway/queue';
import { afterAll, describe, expect, it } from 'vitest';
import { SseLimiter } from './sse-limit.js';

const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'blocking');
const keys = createKeys(`t${randomUUID().slice(0, 8)}`);
const limiters: SseLimiter[] = [];
const limiter = (max: number, leaseMs?: number) => {
  const l = new SseLimiter(redis, keys, { max, ...(leaseMs ? { leaseMs } : {}) });
  limiters.push(l);
  return l;
};

afterAll(async () => {
  for (const l of limiters) l.close();
  const all = await redis.keys(`${keys.prefix}:*`);
  if (all.length) await redis.del(...all);
  redis.disconnect();
});

/** Polls `read` until `ok` holds; fails after `ms`. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not reached in ${ms} ms`);
    await new Promise<void>((r) => setTimeout(r, 10));
  }
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (err: unknown) => (isGatewayError(err) ? err : Promise.reject(err)),
  );

describe('SseLimiter', () => {
  it('holds at most `max` streams per user across limiters, and gives a slot back on release', async () => {
    const a = limiter(2);
    const b = limiter(2);
    const r1 = await a.acquire('mina');
    await b.acquire('mina');
    const err = await refusal(a.acquire('mina'));
    expect(err?.code).toBe('rate_limited');
    expect(err?.retryAfter).toBeGreaterThan(0);
    expect(await refusal(a.acquire('yuna'))).toBeNull();
    r1();
    r1();
    // The release is sent without waiting: wait until it has landed.
    await until(
      () => redis.zcard(keys.userSseStreams('mina')),
      (n) => n === 1,
    );
    expect(await refusal(b.acquire('mina'))).toBeNull();
    expect(a.size + b.size).toBe(3);
  });

  it("lets the leases of a process that stopped renewing lapse, while a live process's stay", async () => {
    const dead = limiter(2, 300);
    const live = limiter(2, 300);
    await dead.acquire('hana');
    await live.acquire('hana');
    dead.close(); // as if its process died: no release, no renewal
    expect(await refusal(live.acquire('hana'))).not.toBeNull();
    const key = keys.userSseStreams('hana');
    const firstLapse = Number((await redis.zrange(key, '-1', '-1', 'WITHSCORES'))[1]);
    // Polled: a refused acquire changes nothing; one succeeds once the dead process's lease has lapsed.
    await until(
      () => refusal(live.acquire('hana')),
      (err) => err === null,
    );
    expect(await redis.zcard(key)).toBe(2);
    // The live process's first lease is still there because it was renewed past its first lapse.
    const scores = (await redis.zrange(key, '0', '-1', 'WITHSCORES'))
      .filter((_, i) => i % 2 === 1)
      .map(Number);
    expect(Math.min(...scores)).toBeGreaterThan(firstLapse);
    expect(await redis.pttl(keys.userSseStreams('hana'))).toBeGreaterThan(0);
  });
});
