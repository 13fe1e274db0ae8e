import { z } from 'zod';
import { BackendsJson } from './backends.js';

const int = (min = 1) => z.coerce.number().int().min(min);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes' || v === 'on');
const csv = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

function isJsonObject(v: string): boolean {
  try {
    const parsed: unknown = JSON.parse(v);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
  } catch {
    return false;
  }
}

/** Every variable the gateway reads, with its default (../shared/API.md plus documented extensions). */
export const Env = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PRETTY: bool.default(true),

  REDIS_URL: z
    .string()
    .regex(
      /^(rediss?:\/\/\S+|rediss?-cluster:\/\/(\S+@)?[^\s/,]+:\d+(,[^\s/,]+:\d+)*)$/,
      'must be redis://host:port, rediss://…, or redis-cluster://host:port,host:port',
    )
    .default('redis://127.0.0.1:6379'),
  REDIS_CLUSTER_NODES: csv.optional(),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/)
    .default('gw'),

  PORT: int(0).max(65_535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  BODY_LIMIT_BYTES: int().default(256 * 1024),
  // false, a hop count, or the proxies' addresses/CIDRs (comma-separated). `true` means 1 hop: trusting
  // every hop would let a client's own X-Forwarded-For choose its address.
  TRUST_PROXY: z
    .string()
    .transform((v, ctx): false | number | string[] => {
      const t = v.trim().toLowerCase();
      if (['false', '0', 'no', 'off'].includes(t)) return false;
      if (['true', 'yes', 'on'].includes(t)) return 1;
      if (/^\d{1,2}$/.test(t)) return Number(t);
      const list = t
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const address = /^([0-9.]+|[0-9a-f:]*:[0-9a-f:.]*)(\/\d{1,3})?$/;
      if (list.length > 0 && list.every((a) => address.test(a))) return list;
      ctx.addIssue({
        code: 'custom',
        message:
          "must be false, a hop count (1 = one proxy in front), or the proxies' IPs/CIDRs, comma-separated",
      });
      return z.NEVER;
    })
    .default(false),
  METRICS_PORT: int(0).max(65_535).optional(),

  LLM_SERVICE: z.enum(['ollama', 'vllm']).default('ollama'),
  OLLAMA_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  VLLM_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  VLLM_API_KEY: z.string().min(1).optional(),
  LLM_MODEL: z.string().min(1).optional(),
  // Models users may ask for (comma-separated; `*` = whatever the backend serves). Default: LLM_MODEL only.
  LLM_MODELS: csv
    .pipe(z.array(z.string().min(1).max(200)).min(1, 'must name at least one model (or *)'))
    .optional(),
  // Ollama `keep_alive` on every request: a duration ("24h", "30m") or seconds; -1 keeps the model loaded.
  OLLAMA_KEEP_ALIVE: z
    .string()
    .regex(/^(-1|\d+|(\d+(\.\d+)?(ns|us|ms|s|m|h))+)$/, 'must be -1, seconds, or a duration such as 24h')
    .default('-1'),
  LLM_CONCURRENCY: int().max(1_000).optional(),
  // Several GPU servers (a JSON array); replaces LLM_SERVICE, the base URLs and LLM_CONCURRENCY.
  LLM_BACKENDS: BackendsJson.optional(),
  LLM_TIMEOUT_MS: int(100).default(60_000),
  LLM_IDLE_TIMEOUT_MS: int(100).optional(),
  LLM_MAX_CONTEXT_TOKENS: int(256).default(4096),
  LLM_MAX_TOKENS: int().default(512),
  LLM_TEMPERATURE: z.coerce.number().min(0).max(2).default(0.7),
  LLM_MAX_ATTEMPTS: int().max(20).default(4),
  LLM_BACKOFF_MS: int(1).default(1_000),
  WORKER_CONCURRENCY: int().max(1_000).optional(),
  BREAKER_THRESHOLD: int().default(3),
  BREAKER_PROBE_MS: int(50).default(2_000),
  WORKER_LOCK_MS: int(500).default(30_000),
  WORKER_STALLED_INTERVAL_MS: int(500).default(15_000),
  WORKER_MAX_STALLED: int(0).max(100).default(2),

  TTS_ENGINE: z.enum(['espeak', 'openai', 'gpt-sovits', 'none']).default('espeak'),
  TTS_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  TTS_CONCURRENCY: int().max(100).default(2),
  TTS_DEFAULT: bool.default(true),
  // Default per engine: `ko` (espeak), `alloy` (openai), the first voice of the table (gpt-sovits).
  TTS_DEFAULT_VOICE: z.string().min(1).optional(),
  TTS_MODEL: z.string().min(1).default('tts-1'),
  TTS_API_KEY: z.string().min(1).optional(),
  TTS_TIMEOUT_MS: int(100).default(60_000),
  TTS_SPEED: z.coerce.number().min(0.25).max(4).default(1),
  TTS_MAX_CHARS: int().max(100_000).default(2_000),
  TTS_STRIP_ACTIONS: bool.default(true),
  TTS_CHUNK_SENTENCES: bool.default(true),
  TTS_VOICES: z.string().refine(isJsonObject, 'must be a JSON object').optional(),
  TTS_VOICES_FILE: z.string().min(1).optional(),
  TTS_ESPEAK_BIN: z.string().min(1).default('espeak-ng'),
  TTS_LOCK_MS: int(1_000).default(30_000),
  AUDIO_STORE: z.enum(['redis', 'dir']).default('redis'),
  AUDIO_DIR: z.string().min(1).default('data/audio'),

  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SESSION_TTL_SECONDS: int(60)
    .max(30 * 86_400)
    .default(3_600),
  // Absolute lifetime of a session from its login: sliding renewal never carries it further.
  SESSION_MAX_SECONDS: int(60)
    .max(365 * 86_400)
    .default(7 * 86_400),
  // Default: true when NODE_ENV=production. Never guessed from the request (a TLS proxy hides https).
  COOKIE_SECURE: bool.optional(),
  AUTH_REGISTRATION: bool.default(true),
  AUTH_GUESTS: bool.default(true),
  LOGIN_MAX_ATTEMPTS: int().max(10_000).default(10),
  LOGIN_MAX_ATTEMPTS_PER_IP: int().max(100_000).default(100),
  LOGIN_WINDOW_SECONDS: int().max(86_400).default(900),
  // Guest accounts made per client address, and by everyone together, in one window.
  GUEST_RATE_PER_IP: int().max(100_000_000).default(20),
  GUEST_RATE_GLOBAL: int().max(100_000_000).default(2_000),
  GUEST_RATE_WINDOW_SECONDS: int()
    .max(7 * 86_400)
    .default(3_600),
  USER_MAX_ACTIVE_JOBS: int().max(100_000).default(20),
  // Bytes of the requests (message, persona, scenario, character) of one user's queued and running jobs.
  USER_MAX_QUEUED_BYTES: int(0).max(1_073_741_824).default(1_048_576),

  JOB_RETENTION_SECONDS: int(60).default(86_400),
  QUEUE_MAX_DEPTH: int().default(50_000),
  FAIR_SHARE: bool.default(true),
  EVENT_FLUSH_MS: int(0).max(1_000).default(25),
  // Lorebooks: messages searched for an entry's keys, and tokens the entries may add (a card's own win).
  LOREBOOK_SCAN_DEPTH: int(0).max(100).default(4),
  LOREBOOK_TOKEN_BUDGET: int(0).max(32_768).default(512),
  SSE_HEARTBEAT_MS: int(100).default(15_000),
  // Abuse limits: open event streams per user, and chat submissions per user and per client IP.
  SSE_MAX_PER_USER: int().max(100_000).default(20),
  SSE_MAX_BUFFERED_BYTES: int(1_024)
    .max(64 * 1024 * 1024)
    .default(256 * 1024),
  SUBMIT_RATE_PER_USER: int().max(10_000_000).default(120),
  SUBMIT_RATE_PER_IP: int().max(10_000_000).default(600),
  SUBMIT_RATE_WINDOW_SECONDS: int().max(86_400).default(60),
  // POST /v1/audio/speech per user: requests per window, and requests in flight at once.
  SPEECH_RATE_PER_USER: int().max(10_000_000).default(60),
  SPEECH_RATE_WINDOW_SECONDS: int().max(86_400).default(60),
  SPEECH_MAX_CONCURRENT_PER_USER: int().max(1_000).default(2),
  CORS_ORIGINS: csv.default([]),
  ADMIN_USERS: csv.default([]),
});
export type Env = z.infer<typeof Env>;
