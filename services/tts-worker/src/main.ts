import { randomUUID } from 'node:crypto';
import { createAudioStore } from '@gateway/audio-store';
import { loadConfigOrExit } from '@gateway/config';
import { isGatewayError, type TtsInfo, type TtsJobData, type TtsJobResult } from '@gateway/contracts';
import { createLogger } from '@gateway/logger';
import { boundPort, createRegistry, startMetricsServer, TtsWorkerMetrics } from '@gateway/metrics';
import {
  createKeys,
  createRedis,
  createTtsQueue,
  JobStore,
  QUEUE,
  runWorkerLifecycle,
  SpeechChunks,
  WorkerRegistry,
} from '@gateway/queue';
import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import { createEngine, type TtsEngine } from './engines/index.js';
import { guards, processTtsJob } from './process-tts-job.js';
import { type ChunkJobDeps, chunkJobState, onChunkJobFailed, processChunkJob } from './speak-chunk.js';
import { DEFER_MS, MAX_DEFERRALS, shouldDefer, urgency } from './voice-runs.js';

const config = loadConfigOrExit();
const log = createLogger({ service: 'tts-worker', level: config.logLevel, pretty: config.logPretty });

let engine: TtsEngine;
try {
  engine = createEngine(config.tts);
  await engine.check();
} catch (err) {
  // One clear line: which engine, what is missing (`tts_engine_missing: espeak-ng not found ...`).
  const message = err instanceof Error ? err.message : String(err);
  log.fatal({ engine: config.tts.engine }, isGatewayError(err) ? `${err.code}: ${message}` : message);
  process.exit(1);
}

const workerId = `tts-${process.pid}-${randomUUID().slice(0, 8)}`;
const keys = createKeys(config.redis.prefix);
const redis = createRedis(config.redis.url, 'blocking');
const retention = config.jobs.retentionSeconds;
const jobs = new JobStore(redis, keys, retention);
const store = createAudioStore({
  kind: config.tts.store.kind,
  dir: config.tts.store.dir,
  redis,
  keys,
  ttlSeconds: retention,
});
const ttsQueue = createTtsQueue(redis, keys);
const registry = new WorkerRegistry(redis, keys, 'tts');
const settings = {
  maxChars: config.tts.maxChars,
  stripActions: config.tts.stripActions,
  chunkSentences: config.tts.chunkSentences,
  speed: config.tts.speed,
};
// One GPT-SoVITS server holds one voice: a process takes one job at a time there and serves voices in runs.
const localConcurrency = engine.voiceBound ? 1 : config.tts.concurrency;

// The limit lives in Redis: every worker process sets the same value, so it holds across all of them.
await ttsQueue.setGlobalConcurrency(config.tts.concurrency);

const metricsRegistry = createRegistry('tts-worker');
const metrics = new TtsWorkerMetrics(metricsRegistry);
const metricsServer = await startMetricsServer(metricsRegistry, config.metricsPort ?? 9465).catch(
  (err: unknown) => {
    // Several workers on one host: only the first gets the default port; the others run without one.
    log.warn({ err }, 'metrics port unavailable; running without /metrics');
    return null;
  },
);

const chunkDeps = (jobLog: typeof log): ChunkJobDeps => ({
  engine,
  store,
  jobs,
  isSet,
  log: jobLog,
  settings,
  chunks,
  chunkJob: (jobId) => chunkJobState(ttsQueue, jobId),
  firstAudio: (ms) => metrics.firstAudio.observe(ms / 1000),
});
const chunks = new SpeechChunks(redis, keys, retention);

const isSet = async (jobId: string, field: string) => (await redis.hexists(keys.job(jobId), field)) === 1;

/** With a voice-bound engine, a job of another voice steps aside while jobs of the loaded voice wait. */
async function stepAside(job: Job<TtsJobData>, token: string | undefined): Promise<boolean> {
  const loaded = engine.currentVoice();
  if (!engine.voiceBound || loaded === null || !token) return false;
  const voiceOf = (d: TtsJobData) => {
    try {
      return engine.resolveVoice(d.voice_id);
    } catch {
      return null;
    }
  };
  const jobVoice = voiceOf(job.data);
  if (jobVoice === null || jobVoice === loaded) return false;
  const waiting = (await ttsQueue.getJobs(['prioritized', 'wait'], 0, 99)).map((j) => ({
    voice: voiceOf(j.data as TtsJobData),
    priority: urgency(j.opts.priority ?? 0),
  }));
  const defer = shouldDefer({
    jobVoice,
    jobPriority: urgency(job.opts.priority ?? 0),
    loadedVoice: loaded,
    deferrals: job.data.deferrals ?? 0,
    maxDeferrals: MAX_DEFERRALS,
    waiting,
  });
  if (!defer) return false;
  await job.updateData({ ...job.data, deferrals: (job.data.deferrals ?? 0) + 1 });
  await job.moveToDelayed(Date.now() + DEFER_MS, token);
  return true;
}

const worker = new Worker<TtsJobData, TtsJobResult | null>(
  QUEUE.tts,
  async (job, token, signal) => {
    if (await stepAside(job, token)) throw new DelayedError();
    const jobLog = log.child({ jobId: job.data.job_id, ttsJob: job.id, attempt: job.attemptsMade + 1 });
    const endTimer = metrics.synthesis.startTimer();
    const jobCtx = {
      attemptsMade: job.attemptsMade,
      maxAttempts: job.opts.attempts ?? 1,
      ...(signal ? { signal } : {}),
    };
    // A sentence chunk of a reply still being written (or its seal) vs speech of a whole text.
    const result =
      job.data.attempt !== undefined && !job.data.standalone
        ? await processChunkJob(job.data, chunkDeps(jobLog), jobCtx)
        : await processTtsJob(job.data, { engine, store, jobs, isSet, log: jobLog, settings }, jobCtx);
    if (result.outcome === 'wait' && token) {
      // A seal looking again in a moment at a chunk still on its way: no outcome yet.
      await job.moveToDelayed(Date.now() + result.ms, token);
      throw new DelayedError();
    }
    jobLog.info({ outcome: result.outcome }, 'tts job ended');
    metrics.jobs.inc({ outcome: result.outcome });
    // The histogram times whole replies; a chunk's time shows in time_to_first_audio.
    if (result.outcome === 'completed' && job.data.attempt === undefined) endTimer();
    if (result.outcome === 'retry') throw result.error;
    if (result.outcome === 'failed')
      throw new UnrecoverableError(`${result.error.code}: ${result.error.message}`);
    return 'result' in result ? result.result : null;
  },
  {
    connection: redis,
    prefix: keys.prefix,
    concurrency: localConcurrency,
    lockDuration: config.tts.lockMs,
    stalledInterval: Math.min(config.tts.lockMs, 10_000),
    maxStalledCount: 2,
  },
);

worker.on('failed', (job, err) => {
  if (!job || job.data.standalone) return;
  if (job.data.attempt !== undefined) {
    // A chunk that failed for good before it was released: it counts as failed, so the reply still ends.
    void onChunkJobFailed(job, err, chunkDeps(log)).catch((e: unknown) =>
      log.error({ err: e, jobId: job.data.job_id }, 'could not fail a tts chunk'),
    );
    return;
  }
  // A job whose worker died again and again never reaches our processor: end its speech here.
  if (!/stalled/i.test(err.message)) return;
  const tts: TtsInfo = {
    status: 'failed',
    mode: job.data.mode,
    voice_id: job.data.voice_id,
    format: 'wav',
    reason: 'job_stalled: the tts-worker stopped again and again',
  };
  void jobs
    .patch(
      job.data.job_id,
      { tts: JSON.stringify(tts) },
      [
        { event: 'tts', data: tts },
        { event: 'done', data: { status: 'completed' } },
      ],
      guards.end(job.data.run ?? 0),
    )
    .catch((e: unknown) => log.error({ err: e, jobId: job.data.job_id }, 'could not fail a stalled tts job'));
});
worker.on('error', (err) => log.error({ err }, 'worker error'));

await runWorkerLifecycle({
  workerId,
  worker,
  registry,
  redis,
  log,
  closeOthers: async () => {
    metricsServer?.close();
    await Promise.allSettled([ttsQueue.close(), engine.close()]);
  },
});

log.info(
  {
    workerId,
    engine: engine.name,
    baseUrl: config.tts.baseUrl,
    concurrency: config.tts.concurrency,
    localConcurrency,
    store: store.kind,
    metricsPort: boundPort(metricsServer),
  },
  'tts-worker ready',
);
