import { randomUUID } from 'node:crypto';
import type { ChatJobData } from '@gateway/contracts';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendState } from './backend-state.js';
import { FairShare } from './fair-share.js';
import { JobStore } from './job-store.js';
import { createKeys } from './keys.js';
import { ChatPool } from './pool.js';
import { createRedis } from './redis.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = createRedis(url, 'blocking');
const keys = createKeys(`t${randomUUID().slice(0, 8)}`);
const jobs = new JobStore(redis, keys, 60);
const servers = [
  { name: 'a', concurrency: 2, models: ['m1'] },
  { name: 'b', concurrency: 2, models: ['m1'] },
  { name: 'c', concurrency: 2, models: ['m2'] },
];
const pool = new ChatPool({ servers, keys, redis, queueRedis: redis, retry: { attempts: 2, backoffMs: 10 } });
const state = (name: string) => new BackendState(redis, keys, keys.serverState(name));

afterAll(async () => {
  await pool.close();
  const all = await redis.keys(`${keys.prefix}:*`);
  if (all.length) await redis.del(...all);
  redis.disconnect();
});

const jobData = (model = 'm1'): ChatJobData => ({
  job_id: randomUUID(),
  owner: 'u1',
  conversation_id: randomUUID(),
  turn: 1,
  kind: 'openai',
  message: 'hi',
  character: { id: null, name: null, persona: null, voice_id: null, greeting: null },
  persona: null,
  scenario: null,
  model,
  temperature: 0.7,
  top_p: null,
  max_tokens: 16,
  tts: false,
  tts_mode: 'realtime',
  voice_id: null,
  created_at: Date.now(),
});

const waitingIds = async (server: string) =>
  (await pool.queue(server).getJobs(['prioritized', 'wait'])).map((j) => j.id).sort();

describe('ChatPool', () => {
  it('gives each server its own queue in its own hash slot', () => {
    expect(pool.names.map((n) => keys.chatQueue(n))).toEqual(['{chat-a}', '{chat-b}', '{chat-c}']);
    expect(keys.serverStats('a')).toMatch(/\{chat-a\}$/);
    expect(keys.serverState('a')).toMatch(/\{chat-a\}$/);
    // The pool of one keeps the classic keys.
    expect(keys.chatQueue('default')).toBe('{chat}');
  });

  it('places a job once: a second add of it lands where the first did', async () => {
    await state('a').markDown('test');
    const data = jobData();
    await jobs.create(data);
    expect((await pool.add(data, 0)).server).toBe('b');
    // Now a looks better, yet the record decides.
    await state('a').markUp();
    await state('b').markDown('test');
    expect(await pool.add(data, 0)).toEqual({ server: 'b', route: 'already_placed' });
    expect(await waitingIds('a')).toEqual([]);
    expect(await waitingIds('b')).toEqual([data.job_id]);
    await pool.queue('b').obliterate({ force: true });
    await state('b').markUp();
  });

  it('moves the waiting jobs of a failed server to a healthy one serving their model, each once', async () => {
    await state('b').markDown('test');
    const moving = [jobData(), jobData(), jobData()];
    for (const d of moving) {
      await jobs.create(d);
      expect((await pool.add(d, 0)).server).toBe('a');
    }
    // a fails, b recovers: two workers run the failover at once.
    await state('a').markDown('test');
    await state('b').markUp();
    const moved = await Promise.all([pool.moveWaiting('a'), pool.moveWaiting('a')]);
    expect(moved[0]! + moved[1]!).toBe(3);
    expect(await waitingIds('a')).toEqual([]);
    expect(await waitingIds('b')).toEqual(moving.map((d) => d.job_id).sort());
    for (const d of moving) expect((await jobs.get(d.job_id))?.server).toBe('b');
    // A copy left on a (a move cut short) is not started there: its record names b.
    expect(await jobs.start(moving[0]!.job_id, Date.now(), 'a')).toEqual({
      started: false,
      status: 'moved:b',
    });
    expect(await jobs.start(moving[0]!.job_id, Date.now(), 'b')).toEqual({ started: true, attempt: 1 });
    await state('a').markUp();
  });

  it('hands a job cut off mid-generation to another server, once', async () => {
    const data = jobData();
    await jobs.create(data);
    const from = (await pool.add(data, 0)).server;
    await pool.queue(from).obliterate({ force: true });
    expect(await jobs.start(data.job_id, Date.now(), from)).toEqual({ started: true, attempt: 1 });
    const [to, again] = await Promise.all([pool.handOver(data, 0, from, 1), pool.handOver(data, 0, from, 1)]);
    const target = to ?? again;
    expect([to, again].filter(Boolean)).toHaveLength(1);
    expect(target).not.toBe(from);
    expect(await waitingIds(target!)).toContain(data.job_id);
    // It runs there as attempt 2, and nowhere else.
    expect(await jobs.start(data.job_id, Date.now(), from)).toEqual({
      started: false,
      status: `moved:${target}`,
    });
    expect(await jobs.start(data.job_id, Date.now(), target!)).toEqual({ started: true, attempt: 2 });
  });

  it('keeps a job whose model no healthy server serves where it is', async () => {
    const data = jobData('m2');
    await jobs.create(data);
    expect((await pool.add(data, 0)).server).toBe('c');
    await state('c').markDown('test');
    expect(await pool.moveWaiting('c')).toBe(0);
    expect(await waitingIds('c')).toEqual([data.job_id]);
    await state('c').markUp();
  });

  it('lets an idle server take first turns from the head of a busier line', async () => {
    await pool.queue('a').obliterate({ force: true });
    await pool.queue('b').obliterate({ force: true });
    await state('b').markDown('test');
    const queued = [jobData(), jobData(), jobData(), jobData()];
    for (const d of queued) {
      await jobs.create(d);
      await pool.add(d, 0);
    }
    expect(await waitingIds('a')).toHaveLength(4);
    await state('b').markUp();
    // b has 2 free slots and no line: it takes 2, from the head of a's line.
    expect(await pool.steal('b')).toBe(2);
    const onB = await waitingIds('b');
    expect(onB).toEqual(
      queued
        .slice(0, 2)
        .map((d) => d.job_id)
        .sort(),
    );
    expect(await waitingIds('a')).toEqual(
      queued
        .slice(2)
        .map((d) => d.job_id)
        .sort(),
    );
    // With its own line now, b takes no more.
    expect(await pool.steal('b')).toBe(0);
  });

  it('keeps fair share per server: a user busy on one server is not pushed back on another', async () => {
    await Promise.all(['a', 'b'].map((n) => pool.queue(n).obliterate({ force: true })));
    const fairPool = new ChatPool({
      servers,
      keys,
      redis,
      queueRedis: redis,
      retry: { attempts: 2, backoffMs: 10 },
      fair: new FairShare(redis, keys, true),
    });
    const submit = async (owner: string) => {
      const d = { ...jobData(), owner };
      await jobs.create(d);
      const placed = await fairPool.add(d, 0);
      return { id: d.job_id, server: placed.server, priority: (await jobs.get(d.job_id))?.priority };
    };
    // u fills b's line; then, with b down, u and v both wait on a.
    await state('a').markDown('test');
    const onB = [await submit('u'), await submit('u'), await submit('u')];
    expect(onB.map((j) => j.server)).toEqual(['b', 'b', 'b']);
    await state('a').markUp();
    await state('b').markDown('test');
    const v1 = await submit('v');
    const v2 = await submit('v');
    const u1 = await submit('u');
    expect([v1, v2, u1].map((j) => j.server)).toEqual(['a', 'a', 'a']);
    // On a, u's first job there ranks with v's first, ahead of v's second: u's backlog on b does not count.
    expect(u1.priority).toBe(v1.priority);
    expect(u1.priority!).toBeLessThan(v2.priority!);
    const order = (await fairPool.queue('a').getJobs(['prioritized'], 0, -1, true)).map((j) => j.id);
    expect(order.indexOf(u1.id)).toBeLessThan(order.indexOf(v2.id));
    // Failover: b's jobs move to a and take tickets of a's line there (after u's job already on a).
    await state('b').markDown('test');
    await state('a').markUp();
    expect(await fairPool.moveWaiting('b')).toBe(3);
    const moved = await Promise.all(onB.map(async (j) => (await jobs.get(j.id))?.priority));
    expect(moved.every((p) => p! > u1.priority!)).toBe(true);
    await state('b').markUp();
    await fairPool.close();
  });
});
