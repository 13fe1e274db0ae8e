import { z } from 'zod';

/** What a backend speaks, and its concurrency when none is given (vLLM `--max-num-seqs`, Ollama `OLLAMA_NUM_PARALLEL`). */
export const DEFAULT_CONCURRENCY = { vllm: 12, ollama: 4 } as const;

/**
 * A server name is part of Redis keys (`{chat-<name>}`), metric labels and log lines: short, plain
 * characters only.
 */
const NAME = /^[a-z0-9][a-z0-9_.-]{0,31}$/;

/** One entry of LLM_BACKENDS as an operator writes it (../shared/API.md). */
const BackendEntry = z
  .object({
    name: z.string().regex(NAME, 'must be 1-32 of a-z 0-9 _ . - (it names Redis keys and metric labels)'),
    service: z.enum(['vllm', 'ollama']),
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
    concurrency: z.number().int().min(1).max(1_000).optional(),
    models: z.array(z.string().min(1).max(200)).min(1).optional(),
    api_key: z.string().min(1).optional(),
  })
  .strict();

/** A GPU server of the pool, as the gateway uses it. */
export interface LlmBackend {
  name: string;
  service: 'vllm' | 'ollama';
  baseUrl: string;
  /** Requests in flight at this server, summed over all llm-workers. */
  concurrency: number;
  /** The models it serves; null: ask the server (`/v1/models`, `/api/tags`). */
  models: string[] | null;
  apiKey?: string;
}

/** The name of the pool of one built from the single-backend settings (LLM_SERVICE, the base URLs). */
export const SINGLE_BACKEND = 'default';

/**
 * Parses LLM_BACKENDS (a JSON array). Each problem is reported as one issue naming the entry by index
 * and name; values are never echoed (an entry may hold an API key).
 */
export const BackendsJson = z.string().transform((raw, ctx): LlmBackend[] => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON array of servers' });
    return z.NEVER;
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'must be a non-empty JSON array of servers' });
    return z.NEVER;
  }
  const out: LlmBackend[] = [];
  const seen = new Set<string>();
  parsed.forEach((entry: unknown, i) => {
    const name =
      typeof entry === 'object' && entry !== null && typeof (entry as { name?: unknown }).name === 'string'
        ? ` (${String((entry as { name: string }).name).slice(0, 40)})`
        : '';
    const r = BackendEntry.safeParse(entry);
    if (!r.success) {
      const what = r.error.issues
        .map((issue) => `${issue.path.join('.') || 'entry'} ${issue.message}`)
        .join(', ');
      ctx.addIssue({ code: 'custom', message: `entry ${i}${name}: ${what}` });
      return;
    }
    const e = r.data;
    if (seen.has(e.name)) {
      ctx.addIssue({ code: 'custom', message: `entry ${i}${name}: name is used twice` });
      return;
    }
    seen.add(e.name);
    out.push({
      name: e.name,
      service: e.service,
      baseUrl: e.url.replace(/\/+$/, ''),
      concurrency: e.concurrency ?? DEFAULT_CONCURRENCY[e.service],
      models: e.models ?? null,
      ...(e.api_key ? { apiKey: e.api_key } : {}),
    });
  });
  return out;
});

/** A server of the pool with what one llm-worker process may hold of it. */
export interface PoolServer extends Omit<LlmBackend, 'baseUrl'> {
  /** null only for the pool of one without a URL (`npm start` then runs the built-in simulator). */
  baseUrl: string | null;
  /** Jobs one llm-worker process runs at once on this server (never above `concurrency`). */
  workerConcurrency: number;
}

export interface PoolSettings {
  LLM_BACKENDS?: LlmBackend[] | undefined;
  LLM_SERVICE: 'vllm' | 'ollama';
  OLLAMA_BASE_URL?: string | undefined;
  VLLM_BASE_URL?: string | undefined;
  VLLM_API_KEY?: string | undefined;
  LLM_CONCURRENCY?: number | undefined;
  WORKER_CONCURRENCY?: number | undefined;
}

/**
 * The GPU servers: LLM_BACKENDS when set, otherwise a pool of one named `default` built from the
 * single-backend settings, so every deployment runs the same code path.
 */
export function shapePool(e: PoolSettings): PoolServer[] {
  const perProcess = (cap: number) => Math.min(e.WORKER_CONCURRENCY ?? cap, cap);
  if (e.LLM_BACKENDS?.length) {
    return e.LLM_BACKENDS.map((b) => ({ ...b, workerConcurrency: perProcess(b.concurrency) }));
  }
  const vllm = e.LLM_SERVICE === 'vllm';
  const concurrency = e.LLM_CONCURRENCY ?? DEFAULT_CONCURRENCY[e.LLM_SERVICE];
  return [
    {
      name: SINGLE_BACKEND,
      service: e.LLM_SERVICE,
      baseUrl: (vllm ? e.VLLM_BASE_URL : e.OLLAMA_BASE_URL)?.replace(/\/+$/, '') ?? null,
      concurrency,
      workerConcurrency: perProcess(concurrency),
      models: null,
      ...(vllm && e.VLLM_API_KEY ? { apiKey: e.VLLM_API_KEY } : {}),
    },
  ];
}
