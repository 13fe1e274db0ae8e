import { randomUUID } from 'node:crypto';
import type { ChatJobData } from '@gateway/contracts';
import { afterAll, expect, it } from 'vitest';
import { readEvents } from './event-log.js';
import { JobStore } from './job-store.js';
import { createKeys } from './keys.js';
import { createRedis } from './redis.js';
import { SpeechChunks } from './speech-chunks.js';

const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'blocking');
const keys = createKeys(`t${randomUUID().slice(0, 8)}`);
const jobs = new JobStore(redis, keys, 60);
const chunks = new SpeechChunks(redis, keys, 60);

afterAll(async () => {
  const all = await redis.keys(`${keys.prefix}:*`);
  if (all.length) await redis.del(...all);
  redis.disconnect();
});

async function runningJob(): Promise<string> {
  const id = randomUUID();
  const data = {
    job_id: id,
    owner: 'u',
    conversation_id: 'c',
    turn: 1,
    created_at: Date.now(),
  } as ChatJobData;
  await jobs.create({ ...data, kind: 'roleplay' });
  expect(await jobs.start(id)).toEqual({ started: true, attempt: 1 });
  return id;
}
const event = (chunk: number, attempt = 1) => ({ status: 'running' as const, chunk, attempt });
const sent = async (id: string) =>
  (await readEvents(redis, keys.events(id), null))
    .filter((e) => e.event === 'tts')
    .map((e) => JSON.parse(e.data) as { chunk: number; attempt: number });

it('sends chunks in order whatever order they are ready in, once each; the last one out completes', async () => {
  const id = await runningJob();
  expect(await chunks.release(id, 1, 2, event(2))).toEqual({ code: 'stored', complete: false });
  expect(await chunks.release(id, 1, 1, event(1))).toEqual({ code: 'stored', complete: false });
  expect(await sent(id)).toEqual([]);
  expect(await chunks.release(id, 1, 0, event(0))).toEqual({ code: 'stored', complete: false });
  expect((await sent(id)).map((e) => e.chunk)).toEqual([0, 1, 2]);
  // Twice is once.
  expect(await chunks.release(id, 1, 1, event(1))).toEqual({ code: 'duplicate', complete: false });
  // A chunk with nothing to say keeps its place but sends nothing.
  await jobs.finish(id, 'completed', {}, []);
  expect(await chunks.seal(id, 1, 4)).toEqual({ code: 'stored', complete: false });
  expect(await chunks.release(id, 1, 3, null)).toEqual({ code: 'stored', complete: true });
  expect((await sent(id)).map((e) => e.chunk)).toEqual([0, 1, 2]);
  expect(await chunks.summary(id, 1)).toEqual({ total: 4, failure: null });
});

it('completes on the seal when every chunk is out already, and only once', async () => {
  const id = await runningJob();
  await chunks.release(id, 1, 0, event(0));
  await chunks.release(id, 1, 1, null, 'tts_failed: refused');
  expect(await chunks.check(id, 1, 2)).toEqual({ stored: false, failed: true });
  await jobs.finish(id, 'completed', {}, []);
  expect(await chunks.seal(id, 1, 2)).toEqual({ code: 'stored', complete: true });
  expect(await chunks.seal(id, 1, 2)).toEqual({ code: 'duplicate', complete: false });
  expect(await chunks.summary(id, 1)).toEqual({ total: 2, failure: 'tts_failed: refused' });
});

it('drops the chunks of an attempt that was replaced, and those of a cancelled job', async () => {
  const id = await runningJob();
  await chunks.release(id, 1, 0, event(0));
  await jobs.patch(id, { status: 'queued' }, []);
  expect(await jobs.start(id)).toEqual({ started: true, attempt: 2 });
  expect((await chunks.release(id, 1, 1, event(1))).code).toBe('superseded');
  expect((await chunks.release(id, 2, 0, event(0, 2))).code).toBe('stored');
  await jobs.finish(id, 'cancelled', {}, []);
  expect((await chunks.release(id, 2, 1, event(1, 2))).code).toBe('superseded');
  expect(await sent(id)).toEqual([
    { status: 'running', chunk: 0, attempt: 1 },
    { status: 'running', chunk: 0, attempt: 2 },
  ]);
});
