import { randomUUID } from 'node:crypto';
import { RedisAudioStore } from '@gateway/audio-store';
import { parseConfig } from '@gateway/config';
import type { ChatJobData, TtsJobData } from '@gateway/contracts';
import { createKeys, createRedis, JobStore } from '@gateway/queue';
import type { JobsOptions } from 'bullmq';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ApiDeps } from '../deps.js';
import { installErrorHandling } from '../errors.js';
import { speechRoutes } from './speech.js';

let redis: Redis;
let app: FastifyInstance;
let jobs: JobStore;
let audio: RedisAudioStore;
const added: { data: TtsJobData; opts: JobsOptions }[] = [];
const prefix = `t${randomUUID().replaceAll('-', '').slice(0, 10)}`;
const keys = createKeys(prefix);

beforeAll(async () => {
  redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'blocking');
  jobs = new JobStore(redis, keys, 600);
  audio = new RedisAudioStore(redis, keys, 600);
  const ttsQueue = {
    add: async (_name: string, data: TtsJobData, opts: JobsOptions) => {
      added.push({ data, opts });
    },
  };
  const deps = { config: parseConfig({}), redis, keys, jobs, audio, ttsQueue } as unknown as ApiDeps;
  app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandling(app);
  app.decorateRequest('user', null);
  app.addHook('onRequest', async (req) => {
    const who = req.headers['x-user'];
    req.user = { id: typeof who === 'string' ? who : 'u1', username: 'u', guest: true };
  });
  await app.register(speechRoutes, { deps });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  const left = await redis.keys(`${prefix}:*`);
  if (left.length > 0) await redis.del(...left);
  redis.disconnect();
});
beforeEach(() => {
  added.length = 0;
});

async function chatJob(
  opts: { finished?: boolean; tts?: 'skipped' | 'failed' | 'completed' } = {},
): Promise<string> {
  const id = randomUUID();
  const data: ChatJobData = {
    job_id: id,
    owner: 'u1',
    conversation_id: randomUUID(),
    turn: 0,
    kind: 'roleplay',
    message: 'hi',
    character: { id: 'c1', name: 'Mina', persona: null, voice_id: 'ko+f3', greeting: null },
    persona: null,
    scenario: null,
    model: 'm',
    temperature: 0.7,
    top_p: null,
    max_tokens: 64,
    tts: true,
    tts_mode: 'on_click',
    voice_id: null,
    created_at: Date.now(),
  };
  await jobs.create(data);
  if (opts.finished === false) return id;
  await jobs.start(id);
  const reply = {
    content: '안녕하세요.',
    model: 'm',
    finish_reason: 'stop' as const,
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
  await jobs.finish(
    id,
    'completed',
    { reply, tts: { status: opts.tts ?? 'skipped', mode: 'on_click', voice_id: 'ko+f3' } },
    [],
  );
  return id;
}

const bytes = Buffer.from(Array.from({ length: 1_000 }, (_, i) => i % 256));

describe('GET /chat/jobs/:id/audio', () => {
  it('is 404 until the audio exists, then serves it whole with its length and type', async () => {
    const id = await chatJob();
    const before = await app.inject({ url: `/chat/jobs/${id}/audio` });
    expect(before.statusCode).toBe(404);
    expect(before.json()).toMatchObject({ error: { code: 'not_found' } });
    await audio.write({ id }, 'audio/wav', bytes);
    const res = await app.inject({ url: `/chat/jobs/${id}/audio` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('audio/wav');
    expect(res.headers['content-length']).toBe('1000');
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(Buffer.compare(res.rawPayload, bytes)).toBe(0);
  });

  it('answers a byte range with 206 and the exact bytes, and 416 past the end', async () => {
    const id = await chatJob();
    await audio.write({ id }, 'audio/wav', bytes);
    const part = await app.inject({ url: `/chat/jobs/${id}/audio`, headers: { range: 'bytes=100-199' } });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 100-199/1000');
    expect(part.headers['content-length']).toBe('100');
    expect(Buffer.compare(part.rawPayload, bytes.subarray(100, 200))).toBe(0);
    const tail = await app.inject({ url: `/chat/jobs/${id}/audio`, headers: { range: 'bytes=-10' } });
    expect(tail.headers['content-range']).toBe('bytes 990-999/1000');
    const past = await app.inject({ url: `/chat/jobs/${id}/audio`, headers: { range: 'bytes=5000-' } });
    expect(past.statusCode).toBe(416);
    expect(past.headers['content-range']).toBe('bytes */1000');
  });

  it('serves sentence chunks with ?chunk=N and hides the audio of other owners', async () => {
    const id = await chatJob();
    await audio.write({ id, chunk: 1 }, 'audio/wav', bytes.subarray(0, 10));
    expect((await app.inject({ url: `/chat/jobs/${id}/audio?chunk=1` })).rawPayload.length).toBe(10);
    expect((await app.inject({ url: `/chat/jobs/${id}/audio?chunk=0` })).statusCode).toBe(404);
    expect((await app.inject({ url: `/chat/jobs/${id}/audio?chunk=-1` })).statusCode).toBe(400);
    const other = await app.inject({ url: `/chat/jobs/${id}/audio?chunk=1`, headers: { 'x-user': 'u2' } });
    expect(other.statusCode).toBe(404);
  });
});

describe('POST /chat/jobs/:id/tts', () => {
  it('is 409 while the job has no reply', async () => {
    const id = await chatJob({ finished: false });
    const res = await app.inject({ method: 'POST', url: `/chat/jobs/${id}/tts` });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({
      error: { code: 'not_ready_for_tts', message: expect.stringMatching(/no reply yet/) },
    });
  });

  it('starts one speech run for a skipped reply, however often it is clicked', async () => {
    const id = await chatJob({ tts: 'skipped' });
    // Many clicks at once: each reads the job while the others claim a run (the race a read-then-write
    // route loses, starting a second run).
    const clicks = await Promise.all(
      Array.from({ length: 8 }, () => app.inject({ method: 'POST', url: `/chat/jobs/${id}/tts` })),
    );
    expect(clicks.map((c) => c.statusCode)).toEqual(Array(8).fill(202));
    for (const c of clicks) expect(c.json()).toMatchObject({ tts: { status: 'pending' } });
    expect(clicks[0]!.json()).toMatchObject({
      job_id: id,
      tts: { status: 'pending', voice_id: 'ko+f3', mode: 'on_click' },
    });
    const runs = new Set(added.map((x) => x.opts.jobId));
    expect(runs).toEqual(new Set([`${id}-tts-1`]));
    expect(added[0]).toMatchObject({
      data: { job_id: id, run: 1, text: '안녕하세요.', voice_id: 'ko+f3', standalone: false },
      opts: { priority: 1 },
    });
    expect((await jobs.get(id))?.tts?.status).toBe('pending');
  });

  it('starts the next run after a failure and answers 200 when the audio is there', async () => {
    const failed = await chatJob({ tts: 'failed' });
    await app.inject({ method: 'POST', url: `/chat/jobs/${failed}/tts` });
    await jobs.patch(failed, { tts: JSON.stringify({ status: 'failed', reason: 'again' }) }, []);
    await app.inject({ method: 'POST', url: `/chat/jobs/${failed}/tts` });
    expect(added.map((x) => x.opts.jobId)).toEqual([`${failed}-tts-1`, `${failed}-tts-2`]);
    const done = await chatJob({ tts: 'completed' });
    const res = await app.inject({ method: 'POST', url: `/chat/jobs/${done}/tts` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ tts: { status: 'completed', audio_url: `/chat/jobs/${done}/audio` } });
  });
});
