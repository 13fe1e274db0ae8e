import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ConversationAdmin } from './conversation-admin.js';
import { ConversationStore, type StoredTurn } from './conversations.js';
import { createKeys } from './keys.js';
import { createRedis } from './redis.js';

const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'blocking');
const keys = createKeys(`t${randomUUID().slice(0, 8)}`);
const store = new ConversationStore(redis, keys, 600);
const admin = new ConversationAdmin(redis, keys, 600);

afterAll(async () => {
  const all = await redis.keys(`${keys.prefix}:*`);
  if (all.length) await redis.del(...all);
  redis.disconnect();
});

const storedTurn = (turn: number, text = `reply ${turn}`): StoredTurn => ({
  turn,
  job_id: `job-${turn}`,
  user: `question ${turn}`,
  assistant: text,
  user_at: turn,
  assistant_at: turn,
});

async function conversationWith(turns: number): Promise<string> {
  const id = randomUUID();
  await store.openTurn({ id, create: true, owner: 'u', characterId: null, greeting: 'hello', jobId: 'j1' });
  await store.releaseTurn(id, 'j1');
  for (let t = 1; t <= turns; t += 1) await store.saveTurn(id, storedTurn(t));
  await redis.hset(keys.conversation(id), 'next_turn', turns);
  return id;
}

describe('ConversationAdmin', () => {
  it('recentTurns reads only the newest turns before the given one, by number', async () => {
    const id = await conversationWith(50);
    await redis.hdel(keys.conversationTurns(id), '48'); // a failed turn leaves a hole
    const got = await admin.recentTurns(id, 50, 5);
    expect(got.map((t) => t.turn)).toEqual([45, 46, 47, 49]);
    expect((await admin.recentTurns(id, 3, 10)).map((t) => t.turn)).toEqual([0, 1, 2]);
    expect(await admin.recentTurns(id, 0, 10)).toEqual([]);
  });

  it('saveAlternative adds a job’s reply once, selects it, and keeps the first', async () => {
    const id = await conversationWith(2);
    await admin.saveAlternative(id, 2, 'regen-1', 'second take');
    await admin.saveAlternative(id, 2, 'regen-1', 'second take'); // a re-run of the same job
    await admin.saveAlternative(id, 2, 'regen-2', 'third take');
    const last = (await admin.messages(id)).at(-1)!;
    expect(last).toMatchObject({
      content: 'third take',
      alternatives: ['reply 2', 'second take', 'third take'],
      selected: 2,
      job_id: 'regen-2',
    });
    // Concurrent selections and edits of one turn: each lands whole (compare and set), none is lost.
    const n = (await admin.messages(id)).length - 1;
    const edits = await Promise.all([
      admin.editMessage('u', id, n, { selected: 0, content: 'edited first' }),
      admin.editMessage('u', id, n, { selected: 1, content: 'edited second' }),
    ]);
    expect(edits.every(Array.isArray)).toBe(true);
    const final = (await admin.messages(id)).at(-1)!;
    expect(final.alternatives).toEqual(['edited first', 'edited second', 'third take']);
    expect(final.content).toBe(final.alternatives[final.selected]);
    expect(await admin.editMessage('someone else', id, n, { selected: 0 })).toBe('not_found');
  });

  it('pages through conversations with equal times exactly once each, and skips expired ones', async () => {
    const owner = `pager-${randomUUID()}`;
    const ids: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      const id = randomUUID();
      await store.openTurn({
        id,
        create: true,
        owner,
        characterId: null,
        greeting: `hi ${i}`,
        jobId: `j${i}`,
      });
      await admin.track(owner, id, i < 5 ? 1_000 : 2_000 + i); // five share one time
      ids.push(id);
    }
    await redis.del(keys.conversation(ids[6]!)); // expired: dropped from the list on the way
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const r: Awaited<ReturnType<typeof admin.list>> = await admin.list(owner, 2, cursor);
      seen.push(...r.conversations.map((c) => c.conversation_id));
      cursor = r.next_cursor;
      if (!cursor) break;
    }
    expect(seen[0]).toBe(ids[5]);
    expect([...seen].sort()).toEqual(ids.slice(0, 6).sort());
    expect(await redis.zscore(keys.userConversations(owner), ids[6]!)).toBeNull();
  });
});
