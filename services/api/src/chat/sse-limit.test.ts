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
    await new Promise((r) => setTimeout(r, 50));
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
    await new Promise((r) => setTimeout(r, 450));
    expect(await refusal(live.acquire('hana'))).toBeNull();
    expect(await redis.zcard(keys.userSseStreams('hana'))).toBe(2);
    expect(await redis.pttl(keys.userSseStreams('hana'))).toBeGreaterThan(0);
  });
});
