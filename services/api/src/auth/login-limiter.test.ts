import { randomUUID } from 'node:crypto';
import { isGatewayError } from '@gateway/contracts';
import { createKeys, createRedis } from '@gateway/queue';
import { afterAll, describe, expect, it } from 'vitest';
import { LoginLimiter } from './login-limiter.js';

const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'blocking');
const keys = createKeys(`t${randomUUID().slice(0, 8)}`);
const limiter = new LoginLimiter(redis, keys, { perUser: 3, perIp: 5, windowSeconds: 60 });

afterAll(async () => {
  const all = await redis.keys(`${keys.prefix}:*`);
  if (all.length) await redis.del(...all);
  redis.disconnect();
});

const refusal = (p: Promise<void>) =>
  p.then(
    () => null,
    (err: unknown) => (isGatewayError(err) ? err : Promise.reject(err)),
  );

describe('LoginLimiter', () => {
  it('refuses the attempt after the limit per username, with the seconds left', async () => {
    for (let i = 0; i < 3; i++) await limiter.hit({ ip: '10.0.0.1', username: 'mina' });
    const err = await refusal(limiter.hit({ ip: '10.0.0.1', username: 'mina' }));
    expect(err?.code).toBe('rate_limited');
    expect(err?.retryAfter).toBeGreaterThan(0);
    expect(err?.retryAfter).toBeLessThanOrEqual(60);
    expect(err?.details).toEqual({ scope: 'username', limit: 3, window_seconds: 60 });
    await limiter.succeeded({ ip: '10.0.0.1', username: 'mina' });
    expect(await refusal(limiter.hit({ ip: '10.0.0.2', username: 'mina' }))).toBeNull();
  });

  it('counts a username per address: guesses from one address do not lock the user out elsewhere', async () => {
    for (let i = 0; i < 3; i++) await limiter.hit({ ip: '10.0.1.1', username: 'yuna' });
    expect((await refusal(limiter.hit({ ip: '10.0.1.1', username: 'yuna' })))?.code).toBe('rate_limited');
    expect(await refusal(limiter.hit({ ip: '10.0.1.2', username: 'yuna' }))).toBeNull();
  });

  it('gives a successful login back to its address', async () => {
    for (let i = 0; i < 20; i++) {
      await limiter.hit({ ip: '10.0.0.5', username: `ok${i}` });
      await limiter.succeeded({ ip: '10.0.0.5', username: `ok${i}` });
    }
    expect(await refusal(limiter.hit({ ip: '10.0.0.5' }))).toBeNull();
  });

  it('counts one address across usernames, and a parallel burst cannot slip through', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => refusal(limiter.hit({ ip: '10.0.0.9', username: `u${i}` }))),
    );
    expect(results.filter((r) => r === null)).toHaveLength(5);
    expect(results.find((r) => r !== null)?.details).toMatchObject({ scope: 'ip', limit: 5 });
  });
});
