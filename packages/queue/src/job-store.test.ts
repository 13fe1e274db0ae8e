import { randomUUID } from 'node:crypto';
import type { ChatJobData } from '@gateway/contracts';
import { afterAll, describe, expect, it } from 'vitest';
import { EventHub } from './event-hub.js';
import { readEvents, type StoredEvent } from './event-log.js';
import { JobStore } from './job-store.js';
import { createKeys } from './keys.js';
import { createRedis } from './redis.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = createRedis(url, 'blocking');
const sub = createRedis(url, 'subscriber');
const keys = createKeys(`t${randomUUID().slice(0, 8)}`);
const store = new JobStore(redis, keys, 60);

afterAll(async () => {
  const all = await redis.keys(`${keys.prefix}:*`);
  if (all.length) await redis.del(...all);
  redis.disconnect();
  sub.disconnect();
});

const jobData = (id: string): ChatJobData => ({
  job_id: id,
  owner: 'u1',
  conversation_id: 'c1',
  turn: 1,
  kind: 'roleplay',
  message: '안녕',
  character: { id: null, name: null, persona: null, voice_id: null, greeting: null },
  persona: null,
  scenario: null,
  model: 'm',
  temperature: 0.7,
  top_p: null,
  max_tokens: 16,
  tts: false,
  tts_mode: 'realtime',
  voice_id: null,
  created_at: Date.now(),
});

describe('JobStore', () => {
  it('runs a job through its life once, with events in order', async () => {
    const id = randomUUID();
    expect(await store.create(jobData(id), {}, [{ event: 'status', data: { status: 'queued' } }])).toBe(true);
    expect(await store.create(jobData(id))).toBe(false);
    const started = await store.start(id);
    expect(started).toEqual({ started: true, attempt: 1 });
    expect(await store.append(id, 1, [{ event: 'token', data: { delta: '안' } }])).toBe(true);
    const reply = {
      content: '안',
      model: 'm',
      finish_reason: 'stop' as const,
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    };
    const events = [
      { event: 'reply' as const, data: reply },
      { event: 'done' as const, data: { status: 'completed' as const } },
    ];
    expect((await store.finish(id, 'completed', { reply }, events)).finished).toBe(true);
    expect(await store.finish(id, 'completed', { reply }, events)).toMatchObject({
      finished: false,
      status: 'completed',
      attempt: 1,
    });
    expect(await store.start(id)).toEqual({ started: false, status: 'completed' });

    const rec = await store.get(id);
    expect(rec?.status).toBe('completed');
    expect(rec?.reply?.content).toBe('안');
    expect(rec?.finishedAt).toBeGreaterThan(0);
    // An ended job keeps what polling shows, not the request it ran.
    expect(rec?.data).toBeNull();
    const names = (await readEvents(redis, keys.events(id), null)).map((e) => e.event);
    expect(names).toEqual(['status', 'status', 'token', 'reply', 'done']);
  });

  it('patches at most once per guard', async () => {
    const id = randomUUID();
    await store.create(jobData(id));
    expect(await store.patch(id, { x: '1' }, [], 'g')).toBe(true);
    expect(await store.patch(id, { x: '2' }, [], 'g')).toBe(false);
    expect(await store.patch('missing', { x: '2' }, [])).toBe(false);
  });
});

describe('EventHub', () => {
  it('gives a late listener the history, then live events, without repeats', async () => {
    const hub = new EventHub(sub, redis);
    const id = randomUUID();
    await store.create(jobData(id), {}, [{ event: 'status', data: { status: 'queued' } }]);
    await store.start(id);
    const seen: StoredEvent[] = [];
    const resumed: StoredEvent[] = [];
    const s = await hub.subscribe(keys.events(id), null, (e) => seen.push(e));
    expect(seen.map((e) => e.event)).toEqual(['status', 'status']);
    const s2 = await hub.subscribe(keys.events(id), seen[0]!.id, (e) => resumed.push(e));
    expect(resumed.map((e) => e.event)).toEqual(['status']);
    for (const d of ['a', 'b', 'c']) await store.append(id, 1, [{ event: 'token', data: { delta: d } }]);
    await expect.poll(() => seen.length).toBe(5);
    await expect.poll(() => resumed.length).toBe(4);
    const text = seen
      .filter((e) => e.event === 'token')
      .map((e) => (JSON.parse(e.data) as { delta: string }).delta)
      .join('');
    expect(text).toBe('abc');
    expect(hub.size).toBe(2);
    s.close();
    s2.close();
    expect(hub.size).toBe(0);
  });
});
