import { randomUUID } from 'node:crypto';
import { loadConfigOrExit, type PoolServer } from '@gateway/config';
import type { ChatJobData, TtsJobData } from '@gateway/contracts';
import { createLlmClient } from '@gateway/llm-clients';
import { createLogger } from '@gateway/logger';
import { boundPort, createRegistry, LlmWorkerMetrics, startMetricsServer } from '@gateway/metrics';
import {
  chatJobOf,
  createChatContext,
  createRedis,
  endJob,
  runWorkerLifecycle,
  ServerSeats,
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
const servers = config.llm.pool;
if (servers.some((s) => !s.baseUrl)) {
  log.fatal(
    `no LLM backend configured: set ${config.llm.service === 'vllm' ? 'VLLM_BASE_URL' : 'OLLAMA_BASE_URL'} or LLM_BACKENDS (npm start runs the built-in simulator)`,
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
  servers,
});
const { keys, jobs, conversations, ttsQueue, dispatcher, userJobs, pool } = chat;
const registry = new WorkerRegistry(redis, keys, 'llm');

const metricsRegistry = createRegistry('llm-worker');
const metrics = new LlmWorkerMetrics(
  metricsRegistry,
  Object.fromEntries(servers.map((s) => [s.name, s.concurrency])),
);
const metricsServer = await startMetricsServer(metricsRegistry, config.metricsPort ?? 9464).catch(
  (err: unknown) => {
    // Several workers on one host: only the first gets the default port; the others run without one.
    log.warn({ err }, 'metrics port unavailable; running without /metrics');
    return null;
  },
);

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

/** One GPU server as this process drives it: its client, breaker and BullMQ worker on its own queue. */
async function serveServer(server: PoolServer) {
  const backend = server.name;
  const slog = log.child({ backend });
  const llm = createLlmClient({
    service: server.service,
    baseUrl: server.baseUrl as string,
    timeoutMs: config.llm.timeoutMs,
    idleTimeoutMs: config.llm.idleTimeoutMs,
    // Ollama runs the n choices of a job at once: up to the server's cap of requests from this process.
    connections: server.concurrency,
    contextTokens: config.llm.maxContextTokens,
    keepAlive: config.llm.keepAlive,
    ...(server.apiKey ? { apiKey: server.apiKey } : {}),
  });
  const queue = pool.queue(backend);
  const breaker = new CircuitBreaker(queue, llm, pool.state(backend), slog, {
    threshold: config.llm.breakerThreshold,
    probeMs: config.llm.breakerProbeMs,
    // Failover: while this server is down, its waiting jobs go to servers that serve their models.
    whileOpen: async () => {
      const moved = await pool.moveWaiting(backend);
      if (moved > 0) slog.warn({ moved }, 'server down: moved its waiting jobs to other servers');
    },
  });
  const observe: ChatObserver = {
    queueWait: (ms) => metrics.queueWait.observe({ backend }, ms / 1000),
    ttft: (ms) => metrics.ttft.observe({ backend }, ms / 1000),
    generation: (ms) => metrics.generation.observe({ backend }, ms / 1000),
    tokens: (n) => metrics.tokens.inc({ backend }, n),
    backendError: (code) => metrics.backendErrors.inc({ code, backend }),
    inFlight: (d) => metrics.inFlight.inc({ backend }, d),
  };
  // The limit lives in Redis: every worker process sets the same value, so it holds across all of them.
  // It is the cap less the extra seats that running jobs of n > 1 sequences hold (ServerSeats); set from
  // the live holders, so a worker starting beside them keeps theirs and one killed meanwhile loses its own.
  const seats = new ServerSeats(storeRedis, keys, backend, server.concurrency);
  await seats.reconcile();
  // Work stealing (pools only): after each job here, and every second, an idle server with free slots
  // takes jobs from the heads of other servers' lines.
  let stealing = false;
  const steal = () => {
    if (pool.single || stealing) return;
    stealing = true;
    pool
      .steal(backend)
      .then((n) => {
        if (n > 0) slog.debug({ moved: n }, 'took waiting jobs from busier servers');
      })
      .catch((err: unknown) => slog.warn({ err }, 'work stealing failed'))
      .finally(() => {
        stealing = false;
      });
  };
  const stealTimer = pool.single ? null : setInterval(steal, 1_000);
  stealTimer?.unref();

  const worker = new Worker<ChatJobData>(
    keys.chatQueue(backend),
    async (job, token, signal) => {
      const jobLog = slog.child({ jobId: job.id, attempt: job.attemptsMade + 1 });
      const priority = job.opts.priority ?? 0;
      // The queue holds the compact form (nulls and defaults left out): the one typed decode fills them.
      const data = chatJobOf(job);
      const result = await processChatJob(
        data,
        {
          llm,
          jobs,
          conversations,
          history: chat.conversationAdmin,
          dispatcher,
          stats: pool.stats(backend),
          handOffTts,
          replySpeech,
          log: jobLog,
          breaker,
          observe,
          userJobs,
          seats: async (n, sig) => {
            const held = await seats.take(String(job.id), token ?? '', n, sig);
            return () => held.release();
          },
          settings: {
            maxContextTokens: config.llm.maxContextTokens,
            eventFlushMs: config.jobs.eventFlushMs,
            lore: { scanDepth: config.roleplay.loreScanDepth, tokenBudget: config.roleplay.loreTokenBudget },
          },
          placement: {
            server: backend,
            forward: (to) => pool.forward(to, data, priority),
            handOver: (attempt) => pool.handOver(data, priority, backend, attempt),
          },
        },
        {
          attemptsMade: job.attemptsMade,
          maxAttempts: job.opts.attempts ?? 1,
          ...(signal ? { signal } : {}),
        },
      );
      jobLog.info(
        { outcome: result.outcome, ...(result.outcome === 'moved' ? { to: result.server } : {}) },
        'chat job ended',
      );
      metrics.jobs.inc({ outcome: result.outcome, backend });
      steal();
      if (result.outcome === 'retry') throw result.error;
      if (result.outcome === 'backend_down') throw Worker.RateLimitError();
      if (result.outcome === 'failed')
        throw new UnrecoverableError(`${result.error.code}: ${result.error.message}`);
      return { outcome: result.outcome };
    },
    {
      connection: redis,
      prefix: keys.prefix,
      concurrency: server.workerConcurrency,
      // A killed worker's jobs return to the queue once their lock expires (BullMQ stalled-job recovery).
      lockDuration: config.llm.lockMs,
      stalledInterval: config.llm.stalledIntervalMs,
      maxStalledCount: config.llm.maxStalledCount,
    },
  );

  worker.on('failed', (job, err) => {
    // A job whose worker died again and again never reaches our processor's catch: end it here.
    if (!job || !/stalled/i.test(err.message)) return;
    const info = {
      code: 'job_stalled',
      message: `the job's worker stopped ${job.opts.attempts ?? 1}+ times`,
    };
    const data = chatJobOf(job);
    const ending = {
      id: data.job_id,
      owner: data.owner,
      conversationId: data.conversation_id,
      server: backend,
    };
    void endJob(
      { jobs, dispatcher, userJobs, stats: pool.stats(backend) },
      ending,
      'failed',
      { error: info, tts: { status: 'skipped', reason: 'no reply' } },
      [
        { event: 'error', data: info },
        { event: 'done', data: { status: 'failed' } },
      ],
    ).catch((e: unknown) => slog.error({ err: e, jobId: job.id }, 'could not fail a stalled job'));
  });
  // A stalled job's worker died: if it held seats, they go back now rather than at the next wide job.
  worker.on('stalled', () => {
    seats.reconcile().catch((err: unknown) => slog.warn({ err }, 'could not reconcile the seats'));
  });
  worker.on('error', (err) => slog.error({ err }, 'worker error'));
  // This process lost a job's lock (a long pause): BullMQ hands the job to another worker, so stop
  // generating it here. (Appends carry no status check; this is what keeps a stale worker quiet.)
  worker.on('lockRenewalFailed', (jobIds: string[]) => {
    for (const jobId of jobIds) {
      if (worker.cancelJob(jobId, 'lost the job lock'))
        slog.warn({ jobId }, 'lost the job lock; stopping it');
    }
  });
  return {
    worker,
    breaker,
    llm,
    stop: () => {
      if (stealTimer) clearInterval(stealTimer);
      seats.stop();
      breaker.stop();
    },
  };
}

const served = await Promise.all(servers.map(serveServer));
const workers = served.map((s) => s.worker);
// Servers listed without `models`: routing (the next turn, failover) asks them what they serve.
const stopWatching = pool.watchModels(
  Object.fromEntries(
    served.map((s, i) => [servers[i]!.name, async () => (await s.llm.listModels()).map((m) => m.id)]),
  ),
);

// Cancel requests reach whichever process holds the job.
await subscriber.subscribe(keys.cancelChannel());
subscriber.on('message', (_channel: string, jobId: string) => {
  if (workers.some((w) => w.cancelJob(jobId, 'cancelled by the client')))
    log.info({ jobId }, 'cancelling job');
});

await runWorkerLifecycle({
  workerId,
  worker: workers,
  registry,
  redis,
  log,
  closeOthers: async () => {
    stopWatching();
    for (const s of served) s.stop();
    metricsServer?.close();
    await Promise.allSettled([chat.close(), ...served.map((s) => s.llm.close())]);
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
    servers: servers.map((s) => ({ name: s.name, url: s.baseUrl, concurrency: s.concurrency })),
    metricsPort: boundPort(metricsServer),
  },
  'llm-worker ready',
);
