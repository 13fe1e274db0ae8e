import { randomUUID } from 'node:crypto';
import { loadConfigOrExit } from '@gateway/config';
import type { ChatJobData, TtsJobData } from '@gateway/contracts';
import { createLlmClient } from '@gateway/llm-clients';
import { createLogger } from '@gateway/logger';
import { boundPort, createRegistry, LlmWorkerMetrics, startMetricsServer } from '@gateway/metrics';
import {
  BackendState,
  createChatContext,
  createRedis,
  endJob,
  QUEUE,
  runWorkerLifecycle,
  ttsChunkJobOptions,
  ttsJobOptions,
  ttsSealJobOptions,
  WorkerRegistry,
} from '@gateway/queue';
import { UnrecoverableError, Worker } from 'bullmq';
import { CircuitBreaker } from './circuit-breaker.js';
import { type ChatObserver, processChatJob } from './process-chat-job.js';
import { ReplySpeech, type SpeechSink, speaksWhileStreaming } from './reply-speech.js';

const config = loadConfigOrExit();
const log = createLogger({ service: 'llm-worker', level: config.logLevel, pretty: config.logPretty });
if (!config.llm.baseUrl) {
  log.fatal(
    `no LLM backend configured: set ${config.llm.service === 'vllm' ? 'VLLM_BASE_URL' : 'OLLAMA_BASE_URL'} (npm start runs the built-in simulator)`,
  );
  process.exit(1);
}

const workerId = `llm-${process.pid}-${randomUUID().slice(0, 8)}`;
const redis = createRedis(config.redis.url, 'blocking');
// Our own job and conversation commands, apart from BullMQ's: concurrent jobs' commands are pipelined.
const storeRedis = createRedis(config.redis.url, 'blocking', { enableAutoPipelining: true });
const subscriber = createRedis(config.redis.url, 'subscriber');
const retry = { attempts: config.llm.maxAttempts, backoffMs: config.llm.backoffMs };
const chat = createChatContext({
  prefix: config.redis.prefix,
  retentionSeconds: config.jobs.retentionSeconds,
  retry,
  fairShare: config.jobs.fairShare,
  redis: storeRedis,
  queueRedis: redis,
});
const { keys, jobs, conversations, chatQueue, ttsQueue, dispatcher, userJobs } = chat;
const registry = new WorkerRegistry(redis, keys, 'llm');
const llm = createLlmClient({
  service: config.llm.service,
  baseUrl: config.llm.baseUrl,
  timeoutMs: config.llm.timeoutMs,
  idleTimeoutMs: config.llm.idleTimeoutMs,
  connections: config.llm.workerConcurrency,
  contextTokens: config.llm.maxContextTokens,
  keepAlive: config.llm.keepAlive,
  ...(config.llm.apiKey ? { apiKey: config.llm.apiKey } : {}),
});

const metricsRegistry = createRegistry('llm-worker');
const metrics = new LlmWorkerMetrics(metricsRegistry, config.llm.concurrency);
const observe: ChatObserver = {
  queueWait: (ms) => metrics.queueWait.observe(ms / 1000),
  ttft: (ms) => metrics.ttft.observe(ms / 1000),
  generation: (ms) => metrics.generation.observe(ms / 1000),
  tokens: (n) => metrics.tokens.inc(n),
  backendError: (code) => metrics.backendErrors.inc({ code }),
  inFlight: (d) => metrics.inFlight.inc(d),
};
const metricsServer = await startMetricsServer(metricsRegistry, config.metricsPort ?? 9464).catch(
  (err: unknown) => {
    // Several workers on one host: only the first gets the default port; the others run without one.
    log.warn({ err }, 'metrics port unavailable; running without /metrics');
    return null;
  },
);

const breaker = new CircuitBreaker(chatQueue, llm, new BackendState(redis, keys), log, {
  threshold: config.llm.breakerThreshold,
  probeMs: config.llm.breakerProbeMs,
});

// The limit lives in Redis: every worker process sets the same value, so it holds across all of them.
await chatQueue.setGlobalConcurrency(config.llm.concurrency);

// Speech while the reply streams: one ReplySpeech per running job, until its hand-off after the reply.
const speeches = new Map<string, ReplySpeech>();
const streamsSpeech = (data: ChatJobData) => config.tts.chunkSentences && speaksWhileStreaming(data);
const speechJob = (data: ChatJobData, text: string, part: Partial<TtsJobData>): TtsJobData => ({
  job_id: data.job_id,
  owner: data.owner,
  text,
  voice_id: data.voice_id ?? data.character.voice_id ?? null,
  mode: data.tts_mode,
  format: 'wav',
  standalone: false,
  // Submission time: the tts-worker measures time to first audio from it.
  created_at: data.created_at,
  ...part,
});
const speechSink: SpeechSink = {
  chunk: async (data, attempt, chunk, text) => {
    await ttsQueue.add(
      'tts',
      speechJob(data, text, { attempt, chunk }),
      ttsChunkJobOptions(data.job_id, attempt, chunk, retry),
    );
  },
  seal: async (data, attempt, chunks) => {
    await ttsQueue.add(
      'tts',
      speechJob(data, '', { attempt, chunks }),
      ttsSealJobOptions(data.job_id, attempt, retry),
    );
  },
};
const newReplySpeech = (data: ChatJobData, attempt: number) =>
  new ReplySpeech(data, attempt, {
    sink: speechSink,
    stripActions: config.tts.stripActions,
    maxChars: config.tts.maxChars,
    log: log.child({ jobId: data.job_id, attempt }),
    textAggregation: (ms) => metrics.textAggregation.observe(ms / 1000),
  });
const replySpeech = (data: ChatJobData, attempt: number) => {
  if (!streamsSpeech(data)) return null;
  const speech = newReplySpeech(data, attempt);
  speeches.set(data.job_id, speech);
  return speech;
};

const handOffTts = async (data: ChatJobData, reply: { content: string }) => {
  if (streamsSpeech(data)) {
    let speech = speeches.get(data.job_id);
    if (!speech) {
      // A re-run after a crash between the reply and this hand-off: the stored reply, split again, gives
      // the same chunks whatever its tokens were; chunks already spoken are not spoken again.
      speech = newReplySpeech(data, (await jobs.get(data.job_id))?.attempt ?? 1);
      speech.onToken(reply.content);
    }
    await speech.finish();
    return;
  }
  const tts: TtsJobData = {
    job_id: data.job_id,
    owner: data.owner,
    text: reply.content,
    voice_id: data.voice_id ?? data.character.voice_id ?? null,
    mode: data.tts_mode,
    format: 'wav',
    standalone: false,
    created_at: Date.now(),
  };
  await ttsQueue.add('tts', tts, ttsJobOptions(data.job_id, data.tts_mode, retry));
};

const worker = new Worker<ChatJobData>(
  QUEUE.chat,
  async (job, _token, signal) => {
    const jobLog = log.child({ jobId: job.data.job_id, attempt: job.attemptsMade + 1 });
    const result = await processChatJob(
      job.data,
      {
        llm,
        jobs,
        conversations,
        history: chat.conversationAdmin,
        dispatcher,
        stats: chat.chatStats,
        handOffTts,
        replySpeech,
        log: jobLog,
        breaker,
        observe,
        userJobs,
        settings: { maxContextTokens: config.llm.maxContextTokens, eventFlushMs: config.jobs.eventFlushMs },
      },
      { attemptsMade: job.attemptsMade, maxAttempts: job.opts.attempts ?? 1, ...(signal ? { signal } : {}) },
    ).finally(() => speeches.delete(job.data.job_id));
    jobLog.info({ outcome: result.outcome }, 'chat job ended');
    metrics.jobs.inc({ outcome: result.outcome });
    if (result.outcome === 'retry') throw result.error;
    if (result.outcome === 'backend_down') throw Worker.RateLimitError();
    if (result.outcome === 'failed')
      throw new UnrecoverableError(`${result.error.code}: ${result.error.message}`);
    return { outcome: result.outcome };
  },
  {
    connection: redis,
    prefix: keys.prefix,
    concurrency: config.llm.workerConcurrency,
    // A killed worker's jobs return to the queue once their lock expires (BullMQ stalled-job recovery).
    lockDuration: config.llm.lockMs,
    stalledInterval: config.llm.stalledIntervalMs,
    maxStalledCount: config.llm.maxStalledCount,
  },
);

worker.on('failed', (job, err) => {
  // A job whose worker died again and again never reaches our processor's catch: end it here.
  if (!job || !/stalled/i.test(err.message)) return;
  const info = { code: 'job_stalled', message: `the job's worker stopped ${job.opts.attempts ?? 1}+ times` };
  const ending = { id: job.data.job_id, owner: job.data.owner, conversationId: job.data.conversation_id };
  void endJob(
    { jobs, dispatcher, userJobs, stats: chat.chatStats },
    ending,
    'failed',
    { error: info, tts: { status: 'skipped', reason: 'no reply' } },
    [
      { event: 'error', data: info },
      { event: 'done', data: { status: 'failed' } },
    ],
  ).catch((e: unknown) => log.error({ err: e, jobId: job.data.job_id }, 'could not fail a stalled job'));
});
worker.on('error', (err) => log.error({ err }, 'worker error'));
// This process lost a job's lock (a long pause): BullMQ hands the job to another worker, so stop
// generating it here. (Appends carry no status check; this is what keeps a stale worker quiet.)
worker.on('lockRenewalFailed', (jobIds: string[]) => {
  for (const jobId of jobIds) {
    if (worker.cancelJob(jobId, 'lost the job lock')) log.warn({ jobId }, 'lost the job lock; stopping it');
  }
});

// Cancel requests reach whichever process holds the job.
await subscriber.subscribe(keys.cancelChannel());
subscriber.on('message', (_channel: string, jobId: string) => {
  if (worker.cancelJob(jobId, 'cancelled by the client')) log.info({ jobId }, 'cancelling job');
});

await runWorkerLifecycle({
  workerId,
  worker,
  registry,
  redis,
  log,
  closeOthers: async () => {
    breaker.stop();
    metricsServer?.close();
    await Promise.allSettled([chat.close(), llm.close()]);
    subscriber.disconnect();
    await storeRedis.quit().catch(() => {});
  },
});

log.info(
  {
    workerId,
    backend: config.llm.service,
    baseUrl: config.llm.baseUrl,
    concurrency: config.llm.concurrency,
    metricsPort: boundPort(metricsServer),
  },
  'llm-worker ready',
);
