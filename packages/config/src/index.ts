import { existsSync } from 'node:fs';
import { shapePool } from './backends.js';
import { Env } from './env.js';

export {
  DEFAULT_CONCURRENCY,
  type LlmBackend,
  type PoolServer,
  SINGLE_BACKEND,
} from './backends.js';
export { Env } from './env.js';
export { heapCapOf, heapFlags, SERVICE_HEAP_MB } from './heap.js';

export const DEFAULT_MODELS = {
  ollama: 'gemma-3-27b-it',
  vllm: 'unsloth/gemma-3-27b-it-bnb-4bit',
} as const;

const DEFAULT_VOICES: Record<Env['TTS_ENGINE'], string | null> = {
  espeak: 'ko',
  openai: 'alloy',
  'gpt-sovits': null,
  none: null,
};

/** Whether `model` may be asked for under the allowlist (`*` allows every model the backend serves). */
export function isModelAllowed(allowed: readonly string[], model: string): boolean {
  if (allowed.includes('*')) return true;
  // Ollama names `gemma3` and `gemma3:latest` the same model.
  const bare = (m: string) => (m.endsWith(':latest') ? m.slice(0, -':latest'.length) : m);
  return allowed.some((a) => a === model || bare(a) === bare(model));
}

const shape = (e: Env) => {
  const pool = shapePool(e);
  const first = pool[0]!;
  const vllm = first.service === 'vllm';
  // A pool's total: what the whole gateway has in flight at most (queue estimates, limits).
  const llmConcurrency = pool.reduce((n, s) => n + s.concurrency, 0);
  const model = e.LLM_MODEL ?? pool.find((s) => s.models)?.models?.[0] ?? DEFAULT_MODELS[first.service];
  // A pool offers what its servers serve: the listed models, or anything when a server lists none.
  const poolModels = pool.every((s) => s.models)
    ? [...new Set([model, ...pool.flatMap((s) => s.models ?? [])])]
    : ['*'];
  return {
    env: e.NODE_ENV,
    production: e.NODE_ENV === 'production',
    logLevel: e.LOG_LEVEL,
    /** Pretty log lines are wanted (a terminal in development); the logger still writes JSON when stdout is no terminal. */
    logPretty: e.LOG_PRETTY && e.NODE_ENV !== 'production',
    /** A worker's /metrics and /health port (default 9464 llm-worker, 9465 tts-worker; 0 = any free port). */
    metricsPort: e.METRICS_PORT ?? null,
    redis: {
      // REDIS_CLUSTER_NODES names the seed nodes of a Redis Cluster; it wins over REDIS_URL.
      url: e.REDIS_CLUSTER_NODES?.length ? `redis-cluster://${e.REDIS_CLUSTER_NODES.join(',')}` : e.REDIS_URL,
      prefix: e.REDIS_PREFIX,
    },
    http: {
      port: e.PORT,
      host: e.HOST,
      bodyLimit: e.BODY_LIMIT_BYTES,
      /** Fastify's trustProxy: false, a hop count, or the proxies' addresses (never `true`: every hop). */
      trustProxy: e.TRUST_PROXY,
      corsOrigins: e.CORS_ORIGINS,
      sseHeartbeatMs: e.SSE_HEARTBEAT_MS,
      /** Unsent bytes one SSE client may hold in the api before its stream is cut (it resumes by id). */
      sseMaxBufferedBytes: e.SSE_MAX_BUFFERED_BYTES,
    },
    llm: {
      /** The GPU servers (LLM_BACKENDS, or a pool of one named `default` from the settings below). */
      pool,
      // The first server's: what code written for one backend reads.
      service: first.service,
      // null: no backend configured (`npm start` then runs the built-in simulator).
      baseUrl: first.baseUrl,
      apiKey: vllm ? first.apiKey : undefined,
      model,
      /** Models a request may name (LLM_MODELS); by default only the configured one (in a pool: the pool's). */
      models: e.LLM_MODELS ?? (pool.length > 1 ? poolModels : [model]),
      /** Ollama `keep_alive`, sent with every request: seconds as a number, a duration as text. */
      keepAlive: /^-?\d+$/.test(e.OLLAMA_KEEP_ALIVE) ? Number(e.OLLAMA_KEEP_ALIVE) : e.OLLAMA_KEEP_ALIVE,
      concurrency: llmConcurrency,
      // A process never holds more than the global limit; fewer lets ops spread load over processes.
      workerConcurrency: first.workerConcurrency,
      timeoutMs: e.LLM_TIMEOUT_MS,
      idleTimeoutMs: e.LLM_IDLE_TIMEOUT_MS ?? Math.min(e.LLM_TIMEOUT_MS, 30_000),
      maxContextTokens: e.LLM_MAX_CONTEXT_TOKENS,
      maxTokens: e.LLM_MAX_TOKENS,
      temperature: e.LLM_TEMPERATURE,
      maxAttempts: e.LLM_MAX_ATTEMPTS,
      lockMs: e.WORKER_LOCK_MS,
      breakerThreshold: e.BREAKER_THRESHOLD,
      breakerProbeMs: e.BREAKER_PROBE_MS,
      stalledIntervalMs: e.WORKER_STALLED_INTERVAL_MS,
      maxStalledCount: e.WORKER_MAX_STALLED,
      backoffMs: e.LLM_BACKOFF_MS,
    },
    tts: {
      engine: e.TTS_ENGINE,
      baseUrl: e.TTS_BASE_URL ?? null,
      concurrency: e.TTS_CONCURRENCY,
      enabledByDefault: e.TTS_DEFAULT,
      // null: the engine picks (gpt-sovits: the first voice of its table).
      defaultVoice: e.TTS_DEFAULT_VOICE ?? DEFAULT_VOICES[e.TTS_ENGINE],
      model: e.TTS_MODEL,
      apiKey: e.TTS_API_KEY,
      timeoutMs: e.TTS_TIMEOUT_MS,
      speed: e.TTS_SPEED,
      maxChars: e.TTS_MAX_CHARS,
      stripActions: e.TTS_STRIP_ACTIONS,
      chunkSentences: e.TTS_CHUNK_SENTENCES,
      voicesJson: e.TTS_VOICES ?? null,
      voicesFile: e.TTS_VOICES_FILE ?? null,
      espeakBin: e.TTS_ESPEAK_BIN,
      lockMs: e.TTS_LOCK_MS,
      store: { kind: e.AUDIO_STORE, dir: e.AUDIO_DIR },
    },
    auth: {
      jwtSecret: e.JWT_SECRET ?? null,
      sessionTtlSeconds: e.SESSION_TTL_SECONDS,
      /** A session ends this long after its login, however often it slid. */
      sessionMaxSeconds: e.SESSION_MAX_SECONDS,
      cookieSecure: e.COOKIE_SECURE ?? e.NODE_ENV === 'production',
      registration: e.AUTH_REGISTRATION,
      guests: e.AUTH_GUESTS,
      loginMaxAttempts: e.LOGIN_MAX_ATTEMPTS,
      loginMaxAttemptsPerIp: e.LOGIN_MAX_ATTEMPTS_PER_IP,
      loginWindowSeconds: e.LOGIN_WINDOW_SECONDS,
      guestsPerIp: e.GUEST_RATE_PER_IP,
      guestsGlobal: e.GUEST_RATE_GLOBAL,
      guestWindowSeconds: e.GUEST_RATE_WINDOW_SECONDS,
      /** Usernames that may open the queue dashboard and set fair-share weights. */
      adminUsers: e.ADMIN_USERS,
    },
    jobs: {
      retentionSeconds: e.JOB_RETENTION_SECONDS,
      maxQueueDepth: e.QUEUE_MAX_DEPTH,
      maxActivePerUser: e.USER_MAX_ACTIVE_JOBS,
      /** Bytes of the stored requests of one user's queued and running jobs (0: no cap). */
      maxQueuedBytesPerUser: e.USER_MAX_QUEUED_BYTES,
      fairShare: e.FAIR_SHARE,
      eventFlushMs: e.EVENT_FLUSH_MS,
    },
    roleplay: {
      loreScanDepth: e.LOREBOOK_SCAN_DEPTH,
      loreTokenBudget: e.LOREBOOK_TOKEN_BUDGET,
    },
    limits: {
      /** Open SSE event streams per user, counted in Redis across api instances. */
      ssePerUser: e.SSE_MAX_PER_USER,
      /** Chat submissions (POST /chat/jobs, POST /v1/chat/completions) per user in one window. */
      submitPerUser: e.SUBMIT_RATE_PER_USER,
      /** The same, per client IP (behind a proxy, set TRUST_PROXY so that this is the client's). */
      submitPerIp: e.SUBMIT_RATE_PER_IP,
      submitWindowSeconds: e.SUBMIT_RATE_WINDOW_SECONDS,
      /** POST /v1/audio/speech per user in one window, and at once. */
      speechPerUser: e.SPEECH_RATE_PER_USER,
      speechWindowSeconds: e.SPEECH_RATE_WINDOW_SECONDS,
      speechConcurrentPerUser: e.SPEECH_MAX_CONCURRENT_PER_USER,
    },
  } as const;
};

export type Config = ReturnType<typeof shape>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment once. The message names each bad variable but never echoes a value (secrets). */
export function parseConfig(env: NodeJS.ProcessEnv): Config {
  // Empty strings mean "unset" (docker-compose writes `VAR=` for blanks).
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const r = Env.safeParse(cleaned);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${issues.join('; ')}`);
  }
  const config = shape(r.data);
  if (config.production && !config.auth.jwtSecret) {
    throw new ConfigError('invalid configuration: JWT_SECRET: required when NODE_ENV=production');
  }
  if ((config.tts.engine === 'openai' || config.tts.engine === 'gpt-sovits') && !config.tts.baseUrl) {
    throw new ConfigError(
      `invalid configuration: TTS_BASE_URL: required when TTS_ENGINE=${config.tts.engine}`,
    );
  }
  return config;
}

/** Reads `.env` (without overriding the real environment), parses, and exits with one line on failure. */
export function loadConfigOrExit(envFile = '.env'): Config {
  if (existsSync(envFile)) process.loadEnvFile(envFile);
  try {
    return parseConfig(process.env);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
