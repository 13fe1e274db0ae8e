import { randomUUID } from 'node:crypto';
import { RedisAudioStore } from '@gateway/audio-store';
import { type ChatJobData, GatewayError, type TtsJobData } from '@gateway/contracts';
import { createLogger } from '@gateway/logger';
import { createKeys, createRedis, JobStore } from '@gateway/queue';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SynthesisRequest, TtsEngine } from './engines/index.js';
import { NoTtsEngine } from './engines/none.js';
import { processTtsJob, type TtsJobDeps } from './process-tts-job.js';
import { toneWav } from './testing/tts-stand-in.js';
import { parseWav } from './wav.js';

class FakeEngine implements TtsEngine {
  readonly name = 'openai';
  readonly skip = false;
  readonly voiceBound = false;
  calls: SynthesisRequest[] = [];
  fail: (req: SynthesisRequest) => GatewayError | null = () => null;
  currentVoice = () => null;
  check = async () => {};
  close = async () => {};
  resolveVoice(id: string | null): string {
    if (id === 'bad') throw new GatewayError('tts_failed', 'voice "bad" is unknown');
    return id ?? 'ko';
  }
  async synthesize(req: SynthesisRequest) {
    this.calls.push(req);
    const err = this.fail(req);
    if (err) throw err;
    const wav = toneWav([...req.text].length * 0.01, 16_000);
    if (req.format === 'mp3')
      return {
        contentType: 'audio/mpeg',
        body: (async function* () {
          yield Buffer.from('mp3!');
        })(),
      };
    return {
      contentType: 'audio/wav',
      body: (async function* () {
        yield wav.subarray(0, 100);
        yield wav.subarray(100);
      })(),
    };
  }
}

let redis: Redis;
const prefix = `t${randomUUID().replaceAll('-', '').slice(0, 10)}`;
const keys = createKeys(prefix);
let jobs: JobStore;
let store: RedisAudioStore;
const log = createLogger({ service: 'test', level: 'silent' });

beforeAll(() => {
  redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'blocking');
  jobs = new JobStore(redis, keys, 600);
  store = new RedisAudioStore(redis, keys, 600);
});
afterAll(async () => {
  const left = await redis.keys(`${prefix}:*`);
  if (left.length > 0) await redis.del(...left);
  redis.disconnect();
});

const REPLY = '*웃으며* 안녕하세요! Nice to meet you. 오늘 기분은 어때요?';

async function completedChat(content = REPLY): Promise<TtsJobData> {
  const id = randomUUID();
  const data: ChatJobData = {
    job_id: id,
    owner: 'u1',
    conversation_id: randomUUID(),
    turn: 0,
    kind: 'roleplay',
    message: 'hi',
    character: { id: null, name: null, persona: null, voice_id: null, greeting: null },
    persona: null,
    scenario: null,
    model: 'm',
    temperature: 0.7,
    top_p: null,
    max_tokens: 64,
    tts: true,
    tts_mode: 'realtime',
    voice_id: 'ko+f3',
    created_at: Date.now(),
  };
  await jobs.create(data, { tts: { status: 'pending', mode: 'realtime', voice_id: 'ko+f3' } });
  await jobs.start(id);
  const reply = {
    content,
    model: 'm',
    finish_reason: 'stop' as const,
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
  await jobs.finish(id, 'completed', { reply }, [{ event: 'reply', data: reply }]);
  return {
    job_id: id,
    owner: 'u1',
    text: content,
    voice_id: 'ko+f3',
    mode: 'realtime',
    format: 'wav',
    standalone: false,
    created_at: Date.now(),
  };
}

const events = async (id: string) =>
  (await redis.xrange(keys.events(id), '-', '+'))
    .map(([, f]) => ({ event: f[1]!, data: JSON.parse(f[3]!) as Record<string, unknown> }))
    .filter((e) => e.event !== 'status');

const deps = (engine: TtsEngine, settings: Partial<TtsJobDeps['settings']> = {}): TtsJobDeps => ({
  engine,
  store,
  jobs,
  isSet: async (id, field) => (await redis.hexists(keys.job(id), field)) === 1,
  log,
  settings: { maxChars: 2_000, stripActions: true, chunkSentences: true, speed: 1, ...settings },
});
const first = { attemptsMade: 0, maxAttempts: 3 };

describe('processTtsJob', () => {
  it('announces each sentence, then the whole reply, then done; a re-run changes nothing', async () => {
    const data = await completedChat();
    const engine = new FakeEngine();
    const r = await processTtsJob(data, deps(engine), first);
    expect(r.outcome).toBe('completed');
    expect(engine.calls.map((c) => c.text)).toEqual([
      '안녕하세요!',
      'Nice to meet you.',
      '오늘 기분은 어때요?',
    ]);
    expect(engine.calls.every((c) => c.voice === 'ko+f3' && c.format === 'wav')).toBe(true);
    const ev = await events(data.job_id);
    expect(ev.map((e) => `${e.event}${e.data.chunk ?? ''}`)).toEqual([
      'reply',
      'tts0',
      'tts1',
      'tts2',
      'tts',
      'done',
    ]);
    expect(ev[1]!.data).toMatchObject({
      status: 'running',
      chunk: 0,
      audio_url: `/chat/jobs/${data.job_id}/audio?chunk=0`,
      voice_id: 'ko+f3',
    });
    const final = ev[4]!.data;
    expect(final).toMatchObject({
      status: 'completed',
      voice_id: 'ko+f3',
      format: 'wav',
      audio_url: `/chat/jobs/${data.job_id}/audio`,
    });
    const whole = parseWav((await store.read({ id: data.job_id }))!);
    expect(whole.data.length).toBe(
      2 *
        Math.round(
          16_000 * 0.01 * ('안녕하세요!'.length + 'Nice to meet you.'.length + '오늘 기분은 어때요?'.length),
        ),
    );
    expect(final.duration_seconds).toBeCloseTo(whole.data.length / 32_000, 2);
    expect((await jobs.get(data.job_id))?.tts).toMatchObject({
      status: 'completed',
      duration_seconds: final.duration_seconds,
    });
    expect(await processTtsJob(data, deps(engine), first)).toEqual({ outcome: 'already_ended' });
    expect((await events(data.job_id)).length).toBe(6);
  });

  it('after a failure part-way, the retry reuses stored sentences and repeats no event', async () => {
    const data = await completedChat();
    const engine = new FakeEngine();
    engine.fail = (req) =>
      req.text.startsWith('Nice') ? new GatewayError('tts_unavailable', 'server restarting') : null;
    const r1 = await processTtsJob(data, deps(engine), first);
    expect(r1.outcome).toBe('retry');
    expect((await jobs.get(data.job_id))?.tts).toMatchObject({
      status: 'pending',
      reason: 'retrying after tts_unavailable',
    });
    engine.fail = () => null;
    engine.calls = [];
    const r2 = await processTtsJob(data, deps(engine), { attemptsMade: 1, maxAttempts: 3 });
    expect(r2.outcome).toBe('completed');
    expect(engine.calls.map((c) => c.text)).toEqual(['Nice to meet you.', '오늘 기분은 어때요?']);
    const ev = await events(data.job_id);
    expect(ev.map((e) => `${e.event}${e.data.chunk ?? ''}`)).toEqual([
      'reply',
      'tts0',
      'tts1',
      'tts2',
      'tts',
      'done',
    ]);
  });

  it('fails the speech, not the chat job: a reason, then done', async () => {
    const data = await completedChat('가'.repeat(50));
    const r = await processTtsJob(data, deps(new FakeEngine(), { maxChars: 10 }), first);
    expect(r.outcome).toBe('failed');
    const rec = await jobs.get(data.job_id);
    expect(rec?.status).toBe('completed');
    expect(rec?.tts).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/^tts_text_too_long: .*50 characters.*TTS_MAX_CHARS/),
    });
    const ev = await events(data.job_id);
    expect(ev.slice(-2)).toEqual([
      { event: 'tts', data: expect.objectContaining({ status: 'failed' }) },
      { event: 'done', data: { status: 'completed' } },
    ]);
    const badVoice = await processTtsJob(
      { ...(await completedChat()), voice_id: 'bad' },
      deps(new FakeEngine()),
      first,
    );
    expect(badVoice).toMatchObject({ outcome: 'failed', error: { code: 'tts_failed' } });
  });

  it('gives up a retryable failure on the last attempt', async () => {
    const data = await completedChat();
    const engine = new FakeEngine();
    engine.fail = () => new GatewayError('tts_unavailable', 'down');
    const r = await processTtsJob(data, deps(engine), { attemptsMade: 2, maxAttempts: 3 });
    expect(r.outcome).toBe('failed');
    expect((await jobs.get(data.job_id))?.tts?.reason).toBe('tts_unavailable: down');
  });

  it('records skipped for nothing to speak and for TTS_ENGINE=none', async () => {
    const a = await completedChat('*고개를 끄덕인다* 😊');
    expect((await processTtsJob(a, deps(new FakeEngine()), first)).outcome).toBe('skipped');
    expect((await jobs.get(a.job_id))?.tts).toMatchObject({ status: 'skipped', reason: 'nothing to speak' });
    const b = await completedChat();
    expect((await processTtsJob(b, deps(new NoTtsEngine()), first)).outcome).toBe('skipped');
    expect((await events(b.job_id)).map((e) => e.event)).toEqual(['reply', 'tts', 'done']);
  });

  it('stores standalone speech under the job id and returns where it is', async () => {
    const id = randomUUID();
    const base: TtsJobData = {
      job_id: id,
      owner: 'u1',
      text: 'Hello there. How are you?',
      voice_id: 'alloy',
      mode: 'realtime',
      format: 'wav',
      standalone: true,
      created_at: Date.now(),
    };
    const r = await processTtsJob(base, deps(new FakeEngine()), first);
    expect(r).toMatchObject({
      outcome: 'completed',
      result: { audio_id: id, status: 'completed', content_type: 'audio/wav', voice_id: 'alloy' },
    });
    expect((await store.stat({ id }))?.contentType).toBe('audio/wav');
    const mp3 = await processTtsJob(
      { ...base, job_id: `${id}-2`, format: 'mp3' },
      deps(new FakeEngine()),
      first,
    );
    expect(mp3).toMatchObject({
      outcome: 'completed',
      result: { content_type: 'audio/mpeg', size: 4, duration_seconds: null },
    });
    expect(await redis.exists(keys.job(id))).toBe(0);
  });
});
