import { GatewayError, isErrorCode, type OpenAiSpeechRequest, type TtsJobData } from '@gateway/contracts';
import { createRedis, QUEUE, QueueStats, TTS_PRIORITY } from '@gateway/queue';
import { type Job, QueueEvents } from 'bullmq';
import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import { SseLimiter } from '../chat/sse-limit.js';
import { newId } from '../chat/submit.js';
import type { ApiDeps } from '../deps.js';
import { badParam } from './errors.js';

export interface SpeechAudio {
  contentType: string;
  audio: Buffer;
}

/** Formats an engine can make: espeak-ng and GPT-SoVITS write WAV; an OpenAI-compatible server makes all. */
const formatsOf = (engine: string): readonly string[] =>
  engine === 'openai' ? ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'] : ['wav'];

/** `code: message` as the tts-worker fails a job (UnrecoverableError), back into a GatewayError. */
export function speechError(failedReason: string): GatewayError {
  const m = /^([a-z_]+): ([\s\S]*)$/.exec(failedReason);
  const code = m?.[1];
  const message = m?.[2] ?? failedReason;
  if (!isErrorCode(code)) return new GatewayError('tts_failed', failedReason || 'speech failed');
  // A voice the engine does not have is the caller's mistake, not the engine's.
  if (code === 'tts_failed' && /\bvoice\b/i.test(message)) return badParam('voice', message);
  return new GatewayError(code, message);
}

/**
 * `POST /v1/audio/speech` through the TTS queue: a standalone speech job (TTS_CONCURRENCY and the
 * voice runs of GPT-SoVITS apply as for replies), waited for through BullMQ's job events, its audio read
 * from the audio store and then dropped from it (it was asked for once).
 */
export class SpeechService {
  private events: Promise<QueueEvents> | null = null;
  private connection: Redis | null = null;
  private readonly stats: QueueStats;
  /** SPEECH_MAX_CONCURRENT_PER_USER requests in flight per user, counted in Redis across api instances. */
  private readonly inFlight: SseLimiter;

  constructor(private readonly deps: ApiDeps) {
    this.stats = new QueueStats(deps.redis, deps.keys, QUEUE.tts);
    const max = deps.config.limits.speechConcurrentPerUser;
    this.inFlight = new SseLimiter(deps.redis, deps.keys, {
      max,
      keyOf: (owner) => deps.keys.userSpeechRequests(owner),
      refusal: (held) =>
        new GatewayError(
          'rate_limited',
          `you have ${held} speech requests in progress, the most one user may have at once; wait for one to finish`,
          { retryAfter: 1, details: { scope: 'speech_concurrent', limit: max } },
        ),
    });
  }

  /** Speech for `owner`, holding one of their in-flight slots while it is made. */
  async speak(owner: string, body: OpenAiSpeechRequest, reply: FastifyReply): Promise<SpeechAudio> {
    const release = await this.inFlight.acquire(owner);
    try {
      return await this.make(owner, body, reply);
    } finally {
      release();
    }
  }

  private async make(owner: string, body: OpenAiSpeechRequest, reply: FastifyReply): Promise<SpeechAudio> {
    const { config } = this.deps;
    if (config.tts.engine === 'none') {
      throw new GatewayError('tts_disabled', 'speech is turned off on this server (TTS_ENGINE=none)');
    }
    const format = body.response_format ?? 'wav';
    const formats = formatsOf(config.tts.engine);
    if (!formats.includes(format)) {
      throw badParam(
        'response_format',
        `response_format "${format}" is not available with TTS_ENGINE=${config.tts.engine}; use ${formats.join(', ')}`,
      );
    }
    if ((await this.deps.ttsWorkers.online()) === 0) {
      throw new GatewayError('tts_unavailable', 'no tts-worker is running', { retryAfter: 5 });
    }
    if ((await this.stats.depth()) >= config.jobs.maxQueueDepth) {
      throw new GatewayError('queue_full', 'the speech queue is full; try again shortly', { retryAfter: 5 });
    }
    const id = newId();
    const data: TtsJobData = {
      job_id: id,
      owner,
      text: body.input,
      voice_id: body.voice,
      mode: 'realtime',
      format,
      standalone: true,
      ...(body.speed ? { speed: body.speed } : {}),
      created_at: Date.now(),
    };
    const events = await this.queueEvents();
    const job: Job = await this.deps.ttsQueue.add('tts', data, {
      jobId: id,
      // After the speech of chat replies: a bulk speech client must not hold up their voices.
      priority: TTS_PRIORITY.standalone,
      attempts: config.llm.maxAttempts,
      backoff: { type: 'exponential', delay: config.llm.backoffMs, jitter: 0.5 },
      // Kept a while, so that a job ending before we listen is still seen as ended.
      removeOnComplete: { age: 600 },
      removeOnFail: { age: 3_600, count: 10_000 },
    });
    const gone = () => {
      if (!reply.raw.writableFinished) void job.remove().catch(() => {});
    };
    reply.raw.once('close', gone);
    try {
      await job.waitUntilFinished(events, config.tts.timeoutMs * config.llm.maxAttempts + 30_000);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (/timed out before finishing/.test(reason)) {
        throw new GatewayError('tts_unavailable', 'speech took too long; try again later', { retryAfter: 5 });
      }
      throw speechError(reason);
    } finally {
      reply.raw.off('close', gone);
    }
    const [meta, audio] = await Promise.all([this.deps.audio.stat({ id }), this.deps.audio.read({ id })]);
    if (!meta || !audio) throw new GatewayError('tts_failed', 'the speech was made but its audio is gone');
    void this.deps.audio.remove(id).catch(() => {});
    return { contentType: meta.contentType, audio };
  }

  /** One QueueEvents per process, on its own connection (it blocks reading BullMQ's event stream). */
  private queueEvents(): Promise<QueueEvents> {
    this.events ??= (async () => {
      this.connection = createRedis(this.deps.config.redis.url, 'blocking');
      const events = new QueueEvents(QUEUE.tts, {
        connection: this.connection,
        prefix: this.deps.keys.prefix,
      });
      events.on('error', (err) => this.deps.log.warn({ err }, 'speech job events: connection trouble'));
      await events.waitUntilReady();
      return events;
    })();
    return this.events;
  }

  async close(): Promise<void> {
    this.inFlight.close();
    if (!this.events) return;
    const events = await this.events.catch(() => null);
    await events?.close().catch(() => {});
    this.connection?.disconnect();
  }
}
