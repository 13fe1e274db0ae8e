import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ConversationStore } from './conversations.js';
import { createKeys } from './keys.js';
import { createRedis } from './redis.js';

const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'blocking');
const keys = createKeys(`t${randomUUID().slice(0, 8)}`);
const TTL = 600;
const store = new ConversationStore(redis, keys, TTL);

afterAll(async () => {
  const all = await redis.keys(`${keys.prefix}:*`);
  if (all.length) await redis.del(...all);
  redis.disconnect();
});

const open = (id: string, jobId: string, create = false) =>
  store.openTurn({ id, create, owner: 'u', characterId: null, greeting: create ? 'hi' : null, jobId });

describe('ConversationStore.openTurn', () => {
  it('lines turns up in order and remembers each job of the conversation', async () => {
    const id = randomUUID();
    expect(await open(id, 'a', true)).toEqual({ turn: 1, head: 'a' });
    expect(await open(id, 'b')).toEqual({ turn: 2, head: 'a' });
    expect(await store.releaseTurn(id, 'a')).toBe('b');
    // An ended job stays listed (scored 0), so deleting the conversation finds it.
    expect(await redis.call('ZRANGE', keys.conversationPending(id), '0', '-1', 'WITHSCORES')).toEqual([
      'a',
      '0',
      'b',
      '2',
    ]);
    expect(
      await store.openTurn({
        ...{ id, create: false, owner: 'x', characterId: null, greeting: null },
        jobId: 'c',
      }),
    ).toBeNull();
  });

  it('leaves no key of a conversation without its TTL, also after its line ran empty', async () => {
    const id = randomUUID();
    await open(id, 'a', true);
    expect(await store.releaseTurn(id, 'a')).toBeNull(); // no turn waits
    await open(id, 'b');
    for (const key of [keys.conversation(id), keys.conversationTurns(id), keys.conversationPending(id)]) {
      const ttl = await redis.ttl(key);
      expect(ttl, key).toBeGreaterThan(TTL * 0.9);
      expect(ttl, key).toBeLessThanOrEqual(TTL);
    }
  });

  it('pushes the expiry back once a tenth of it has run down, not on every turn', async () => {
    const id = randomUUID();
    await open(id, 'a', true);
    // Some time later, with the TTL run down by less than a tenth: this turn leaves the TTL alone.
    await redis.expire(keys.conversation(id), TTL - 30);
    await open(id, 'b');
    expect(await redis.ttl(keys.conversation(id))).toBeLessThanOrEqual(TTL - 30);
    // Past a tenth since the last push: the next turn pushes the meta's and the line's TTLs back.
    await redis.hset(keys.conversation(id), 'ttl_at', Date.now() - TTL * 100 - 1);
    await redis.expire(keys.conversation(id), TTL - 70);
    await redis.expire(keys.conversationPending(id), TTL - 70);
    await open(id, 'c');
    expect(await redis.ttl(keys.conversation(id))).toBeGreaterThan(TTL - 5);
    expect(await redis.ttl(keys.conversationPending(id))).toBeGreaterThan(TTL - 5);
  });
});
