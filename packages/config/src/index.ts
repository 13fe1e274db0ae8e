import { existsSync } from 'node:fs';
import { Env } from './env.js';

export { Env } from './env.js';

export const DEFAULT_MODELS = {
  ollama: 'gemma-3-27b-it',
  vllm: 'unsloth/gemma-3-27b-it-bnb-4bit',
} as const;

const shape = (e: Env) => {
  const vllm = e.LLM_SERVICE === 'vllm';
  const llmConcurrency = e.LLM_CONCURRENCY ?? (vllm ? 12 : 4);
  return {
    env: e.NODE_ENV,
    production: e.NODE_ENV === 'production',
    logLevel: e.LOG_LEVEL,
    redis: { url: e.REDIS_URL, prefix: e.REDIS_PREFIX },
    http: {
      port: e.PORT,
      host: e.HOST,
      bodyLimit: e.BODY_LIMIT_BYTES,
      trustProxy: e.TRUST_PROXY,
      corsOrigins: e.CORS_ORIGINS,
      sseHeartbeatMs: e.SSE_HEARTBEAT_MS,
    },
    llm: {
      service: e.LLM_SERVICE,
      // null: no backend configured (`npm start` then runs the built-in simulator).
      baseUrl: (vllm ? e.VLLM_BASE_URL : e.OLLAMA_BASE_URL) ?? null,
      apiKey: vllm ? e.VLLM_API_KEY : undefined,
      model: e.LLM_MODEL ?? DEFAULT_MODELS[e.LLM_SERVICE],
      concurrency: llmConcurrency,
      // A process never holds more than the global limit; fewer lets ops spread load over processes.
      workerConcurrency: Math.min(e.WORKER_CONCURRENCY ?? llmConcurrency, llmConcurrency),
      timeoutMs: e.LLM_TIMEOUT_MS,
      idleTimeoutMs: e.LLM_IDLE_TIMEOUT_MS ?? Math.min(e.LLM_TIMEOUT_MS, 30_000),
      maxContextTokens: e.LLM_MAX_CONTEXT_TOKENS,
      maxTokens: e.LLM_MAX_TOKENS,
      temperature: e.LLM_TEMPERATURE,
      maxAttempts: e.LLM_MAX_ATTEMPTS,
      lockMs: e.WORKER_LOCK_MS,
      stalledIntervalMs: e.WORKER_STALLED_INTERVAL_MS,
      maxStalledCount: e.WORKER_MAX_STALLED,
      backoffMs: e.LLM_BACKOFF_MS,
    },
    tts: {
      engine: e.TTS_ENGINE,
      baseUrl: e.TTS_BASE_URL ?? null,
      concurrency: e.TTS_CONCURRENCY,
      enabledByDefault: e.TTS_DEFAULT,
      defaultVoice: e.TTS_DEFAULT_VOICE,
    },
    auth: { jwtSecret: e.JWT_SECRET ?? null },
    jobs: {
      retentionSeconds: e.JOB_RETENTION_SECONDS,
      maxQueueDepth: e.QUEUE_MAX_DEPTH,
      eventFlushMs: e.EVENT_FLUSH_MS,
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
  if (config.tts.engine === 'openai' && !config.tts.baseUrl) {
    throw new ConfigError('invalid configuration: TTS_BASE_URL: required when TTS_ENGINE=openai');
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
