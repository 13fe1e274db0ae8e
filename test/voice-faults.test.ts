import { spawnSync } from 'node:child_process';
import { RedisAudioStore } from '@gateway/audio-store';
import type { ChatJobAccepted, ChatJobData, ChatJobView, Reply, TtsChunkInfo } from '@gateway/contracts';
import { createLogger } from '@gateway/logger';
import {
  chatJobOf,
  createChatQueue,
  createKeys,
  createRedis,
  createTtsQueue,
  JobStore,
  QUEUE,
  SpeechChunks,
  ttsChunkJobOptions,
  ttsSealJobOptions,
} from '@gateway/queue';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplySpeech, type SpeechSink } from '../services/llm-worker/src/reply-speech.js';
import { EspeakEngine, espeakArgs } from '../services/tts-worker/src/engines/espeak.js';
import type { SynthesisRequest, TtsEngine } from '../services/tts-worker/src/engines/index.js';
import { type ChunkJobDeps, chunkJobState, processChunkJob } from '../services/tts-worker/src/speak-chunk.js';
import { cleanText } from '../services/tts-worker/src/text.js';
import { loadVoiceTable } from '../services/tts-worker/src/voices.js';
import { parseWav } from '../services/tts-worker/src/wav.js';
import { guestSession } from './support/auth.js';
import { call, readSse, type SseEvent, waitFor } from './support/http.js';
import { type Stack, startStack, stopProcess } from './support/stack.js';

// The test plays the llm-worker (it starts attempts and queues sentence chunks as a reply streams) next to
// a real api and, where it says so, a real tts-worker process with espeak-ng.

let stack: Stack;
let headers: Record<string, string>;
let redis: Redis;
let jobs: JobStore;
const retry = { attempts: 2, backoffMs: 20 };
const log = createLogger({ service: 'test', level: 'silent' });

beforeAll(async () => {
  stack = await startStack({ kind: 'ollama', services: ['api'], env: { TTS_DEFAULT: 'true' } });
  headers = (await guestSession(stack.apiUrl)).headers;
  redis = createRedis(stack.env.REDIS_URL!, 'blocking');
  jobs = new JobStore(redis, createKeys(stack.prefix), 600);
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
});

const keys = () => createKeys(stack.prefix);
const ttsQueue = () => createTtsQueue(redis, keys());
const espeak = () =>
  new EspeakEngine({
    bin: 'espeak-ng',
    timeoutMs: 20_000,
    defaultVoice: 'en-us',
    voices: loadVoiceTable({ json: null, file: null }),
  });

/** A chat job submitted through the api and started by "the llm-worker": its data and attempt 1. */
async function runningChat(): Promise<ChatJobData> {
  const r = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
    body: { message: 'Speak to me', voice_id: 'en-us', tts: true, tts_mode: 'realtime' },
    headers,
  });
  expect(r.status).toBe(202);
  const id = r.body.job_id;
  // A job that goes onto the queue at once keeps its request in BullMQ's job only (stored once).
  const chat = createChatQueue(redis, keys());
  const queued = await chat.getJob(id).finally(() => chat.close());
  expect(await jobs.start(id)).toMatchObject({ started: true, attempt: 1 });
  return chatJobOf(queued!);
}

const reply = (content: string): Reply => ({
  content,
  model: 'm',
  finish_reason: 'stop',
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});
/** The reply is done: stored with its `reply` event and speech still to follow, as the llm-worker does. */
const completeChat = (data: ChatJobData, content: string) =>
  jobs.finish(
    data.job_id,
    'completed',
    { reply: reply(content), tts: { status: 'pending', mode: 'realtime', voice_id: 'en-us' } },
    [{ event: 'reply', data: reply(content) }],
  );

/** The llm-worker's speech sink (services/llm-worker/src/main.ts): one BullMQ job per chunk, then the seal. */
function queueSink(add: (n: number) => ReturnType<typeof ttsQueue>['add']): SpeechSink {
  const job = (data: ChatJobData, text: string, part: Record<string, number>) => ({
    job_id: data.job_id,
    owner: data.owner,
    text,
    voice_id: 'en-us',
    mode: data.tts_mode,
    format: 'wav',
    standalone: false,
    created_at: data.created_at,
    ...part,
  });
  return {
    chunk: async (data, attempt, n, text) => {
      await add(n)(
        'tts',
        job(data, text, { attempt, chunk: n }),
        ttsChunkJobOptions(data.job_id, attempt, n, retry),
      );
    },
    seal: async (data, attempt, chunks) => {
      await add(-1)(
        'tts',
        job(data, '', { attempt, chunks }),
        ttsSealJobOptions(data.job_id, attempt, retry),
      );
    },
  };
}

const events = (id: string, until?: (e: SseEvent) => boolean) =>
  readSse(`${stack.apiUrl}/chat/jobs/${id}/events`, { headers, ...(until ? { until } : {}) });
const ttsOf = (e: SseEvent) => JSON.parse(e.data) as TtsChunkInfo;
const spoken = (all: SseEvent[]) => all.filter((e) => e.event === 'tts').map(ttsOf);
const view = (id: string) =>
  call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${id}`, { headers }).then((r) => r.body);
const pcm = (body: Buffer) => parseWav(body).data;
const say = (text: string) =>
  pcm(spawnSync('espeak-ng', espeakArgs('en-us', 1), { input: cleanText(text, true) }).stdout);
const audio = async (id: string, chunk: number) => {
  const res = await fetch(`${stack.apiUrl}/chat/jobs/${id}/audio?chunk=${chunk}`, { headers });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
};

/** What the tts-worker process would use, for calling its chunk step directly. */
const chunkDeps = (engine: TtsEngine): ChunkJobDeps => {
  const k = keys();
  return {
    engine,
    store: new RedisAudioStore(redis, k, 600),
    jobs,
    isSet: async (id, field) => (await redis.hexists(k.job(id), field)) === 1,
    log,
    settings: { maxChars: 2_000, stripActions: true, chunkSentences: true, speed: 1 },
    chunks: new SpeechChunks(redis, k, 600),
    chunkJob: (jobId) => chunkJobState(ttsQueue(), jobId),
  };
};
const chunkData = (data: ChatJobData, attempt: number, chunk: number, text: string) => ({
  job_id: data.job_id,
  owner: data.owner,
  text,
  voice_id: 'en-us',
  mode: 'realtime' as const,
  format: 'wav',
  standalone: false,
  created_at: data.created_at,
  attempt,
  chunk,
});
const ctx = { attemptsMade: 0, maxAttempts: 2 };

const SENTENCES = ['Hello there, my friend.', 'This sentence gets lost.', 'And this one comes after it.'];

describe("a reply's speech always ends", () => {
  it('when queuing a chunk fails (a Redis error): the final tts event says failed, done comes last', async () => {
    const data = await runningChat();
    const queue = ttsQueue();
    // A connection that is gone: adding chunk 1 fails the way it does when Redis drops.
    const dead = createRedis(stack.env.REDIS_URL!, 'blocking');
    const deadQueue = createTtsQueue(dead, keys());
    await deadQueue.waitUntilReady();
    dead.disconnect();
    const speech = new ReplySpeech(data, 1, {
      sink: queueSink((n) => (n === 1 ? deadQueue.add.bind(deadQueue) : queue.add.bind(queue))),
      stripActions: true,
      maxChars: 2_000,
      log,
    });
    for (const s of SENTENCES) speech.onToken(`${s} `);
    await completeChat(data, SENTENCES.join(' '));
    expect(await speech.finish()).toBe(3);

    const worker = await stack.start('tts-worker', { TTS_ENGINE: 'espeak' });
    try {
      const all = await events(data.job_id);
      const names = all.filter((e) => e.event !== 'token' && e.event !== 'status').map((e) => e.event);
      expect(names.slice(-2)).toEqual(['tts', 'done']);
      expect(spoken(all)[0]).toMatchObject({ chunk: 0, attempt: 1 });
      expect(ttsOf(all.at(-2)!)).toMatchObject({ status: 'failed' });
      expect(ttsOf(all.at(-2)!).reason).toMatch(/never queued/);
      expect((await view(data.job_id)).tts).toMatchObject({ status: 'failed' });
    } finally {
      await stopProcess(worker);
      await queue.close();
      await deadQueue.close();
    }
  });

  it('when a chunk job throws on every retry before it is released', async () => {
    const data = await runningChat();
    const queue = ttsQueue();
    const sink = queueSink(() => queue.add.bind(queue));
    // Chunk 1's job comes first and meets a worker that throws each time (its Redis calls fail, say),
    // until BullMQ gives the job up; then a real tts-worker takes the rest.
    await sink.chunk(data, 1, 1, SENTENCES[1]!);
    const thrower = new Worker(
      QUEUE.tts,
      async () => {
        throw new Error('Connection is closed.');
      },
      { connection: createRedis(stack.env.REDIS_URL!, 'blocking'), prefix: keys().prefix },
    );
    const c1 = `${data.job_id}-tts-a1-c1`;
    await waitFor(
      () => queue.getJobState(c1),
      (s) => s === 'failed',
    );
    await thrower.close();
    await sink.chunk(data, 1, 0, SENTENCES[0]!);
    await sink.chunk(data, 1, 2, SENTENCES[2]!);
    await completeChat(data, SENTENCES.join(' '));
    await sink.seal(data, 1, 3);

    const worker = await stack.start('tts-worker', { TTS_ENGINE: 'espeak' });
    try {
      const all = await events(data.job_id);
      expect(all.at(-1)?.event).toBe('done');
      expect(ttsOf(all.at(-2)!)).toMatchObject({ status: 'failed' });
      expect(ttsOf(all.at(-2)!).reason).toMatch(/Connection is closed/);
      // Chunks in order, chunk 1 never (its job is given up), then the final event.
      const chunks = spoken(all)
        .slice(0, -1)
        .map((t) => t.chunk);
      expect(chunks[0]).toBe(0);
      expect(chunks).not.toContain(1);
      expect(chunks).toEqual([...chunks].sort());
    } finally {
      await stopProcess(worker);
      await queue.close();
    }
  });
});

describe("chunk audio of a restarted reply (attempt 2) is that attempt's", () => {
  it("?chunk=N serves the current attempt's audio, even when a replaced attempt writes late", async () => {
    const data = await runningChat();
    const id = data.job_id;
    const real = espeak();
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let entered = () => {};
    const synthesizing = new Promise<void>((resolve) => {
      entered = resolve;
    });
    // Attempt 1's TTS server is slow: its chunk 0 is still being synthesized when attempt 2 takes over.
    const slow: TtsEngine = {
      name: real.name,
      skip: false,
      voiceBound: false,
      currentVoice: () => null,
      check: async () => {},
      close: async () => {},
      resolveVoice: (v) => real.resolveVoice(v),
      synthesize: async (req: SynthesisRequest) => {
        entered();
        await gate;
        return real.synthesize(req);
      },
    };
    const late = processChunkJob(chunkData(data, 1, 0, 'The first attempt said this.'), chunkDeps(slow), ctx);
    await synthesizing;
    // The llm-worker died; the reply runs again as attempt 2 and its chunk 0 is spoken first.
    expect(await jobs.start(id)).toMatchObject({ started: true, attempt: 2 });
    const second = 'The second attempt says something else.';
    expect(await processChunkJob(chunkData(data, 2, 0, second), chunkDeps(real), ctx)).toMatchObject({
      outcome: 'completed',
    });
    open();
    expect(await late).toMatchObject({ outcome: 'completed' });

    const got = await audio(id, 0);
    expect(got.status).toBe(200);
    expect(Buffer.compare(pcm(got.body), say(second))).toBe(0);
    const sent = spoken(await events(id, (e) => e.event === 'tts'));
    expect(sent).toEqual([expect.objectContaining({ chunk: 0, attempt: 2 })]);
  });
});

describe('polling sees speech progress', () => {
  it('GET /chat/jobs/:id says running with the chunks ready so far, then the final tts', async () => {
    const data = await runningChat();
    const id = data.job_id;
    const deps = chunkDeps(espeak());
    expect((await view(id)).tts).toMatchObject({ status: 'pending' });
    await processChunkJob(chunkData(data, 1, 0, SENTENCES[0]!), deps, ctx);
    expect((await view(id)).tts).toMatchObject({ status: 'running', chunks_ready: 1 });
    // The reply ends while its speech goes on: still running, not pending again.
    await completeChat(data, SENTENCES.slice(0, 2).join(' '));
    expect((await view(id)).tts).toMatchObject({ status: 'running', chunks_ready: 1 });
    await processChunkJob(chunkData(data, 1, 1, SENTENCES[1]!), deps, ctx);
    expect((await view(id)).tts).toMatchObject({ status: 'running', chunks_ready: 2 });
    const seal = { ...chunkData(data, 1, 0, ''), chunk: undefined, chunks: 2 };
    expect(await processChunkJob(seal, deps, ctx)).toMatchObject({ outcome: 'completed' });
    const done = (await view(id)).tts;
    expect(done).toMatchObject({ status: 'completed', audio_url: `/chat/jobs/${id}/audio` });
    expect(done?.chunks_ready).toBeUndefined();
  });
});
