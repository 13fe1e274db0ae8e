/** The gateway under test: real api and llm-worker processes on a fresh Redis key prefix. */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { heapFlags } from '@gateway/config';
import { createKeys, createRedis, type Keys, WorkerRegistry } from '@gateway/queue';
import type { Redis } from 'ioredis';
import { request } from 'undici';
import { freePort, type Proc, spawnNode, waitUntil } from './procs.js';
import type { SimHandle } from './sim.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface GatewayOptions {
  sim: SimHandle;
  workers: number;
  /** Extra environment for every service (LLM_CONCURRENCY, EVENT_FLUSH_MS, FAIR_SHARE...). */
  env?: Record<string, string>;
  /** A Redis of its own (the `redis` scenario counts commands on a private redis-server); default REDIS_URL. */
  redisUrl?: string;
  /** Directory for `node --cpu-prof` profiles of the api and the first worker (`<dir>/api/`, `<dir>/llm-worker/`). */
  cpuProfDir?: string;
}

export interface Session {
  /** `name=value` of the session cookie, or null when the api has no auth yet. */
  cookie: string | null;
  userId: string | null;
  /** Headers for every call of this user (cookie and origin). */
  headers: Record<string, string>;
}

export interface Gateway {
  apiUrl: string;
  prefix: string;
  keys: Keys;
  redis: Redis;
  env: Record<string, string>;
  api: Proc;
  workers: Proc[];
  /** A new user: a guest session when POST /auth/guest exists, else the anonymous owner. */
  newUser(): Promise<Session>;
  /**
   * Headers for a program: `Authorization: Bearer <api key>` of a newly registered user (guests may not
   * have keys); a guest session when the api has no API keys.
   */
  newProgram(): Promise<Record<string, string>>;
  /** Starts `n` more llm-worker processes and waits until they report online. */
  startWorkers(n: number): Promise<void>;
  stop(): Promise<void>;
}

/** The environment every benchmark run gives the services (production mode, no speech, quiet logs). */
export function baseEnv(prefix: string, simUrl: string, port: number): Record<string, string> {
  return {
    NODE_ENV: 'production',
    JWT_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'warn',
    REDIS_URL,
    REDIS_PREFIX: prefix,
    LLM_SERVICE: 'vllm',
    VLLM_BASE_URL: simUrl,
    HOST: '127.0.0.1',
    PORT: String(port),
    TTS_DEFAULT: 'false',
    // A benchmark user submits thousands of jobs and opens a thousand streams: lift the per-user and
    // per-IP limits (to their maxima; the limiters still run, so their cost is measured).
    USER_MAX_ACTIVE_JOBS: '100000',
    // The benchmarks measure the pipeline, not per-user caps: no byte budget either (one user may queue 20,000).
    USER_MAX_QUEUED_BYTES: '0',
    SSE_MAX_PER_USER: '100000',
    SUBMIT_RATE_PER_USER: '10000000',
    SUBMIT_RATE_PER_IP: '10000000',
    // Every benchmark user is a guest from 127.0.0.1.
    GUEST_RATE_PER_IP: '10000000',
    GUEST_RATE_GLOBAL: '10000000',
  };
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const prefix = `bench${randomUUID().replaceAll('-', '').slice(0, 8)}`;
  const port = await freePort();
  const env = {
    ...baseEnv(prefix, opts.sim.url, port),
    ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
    ...opts.env,
  };
  const redis = createRedis(opts.redisUrl ?? REDIS_URL, 'blocking');
  const keys = createKeys(prefix);
  const apiUrl = `http://127.0.0.1:${port}`;
  const prof = (name: string) => {
    if (!opts.cpuProfDir) return [];
    // One directory per process: node writes a profile per thread (tsx's loader runs in one too).
    const dir = `${opts.cpuProfDir}/${name}`;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  };
  const gw: Gateway = {
    apiUrl,
    prefix,
    keys,
    redis,
    env,
    api: undefined as unknown as Proc,
    workers: [],
    newUser: () => newUser(apiUrl),
    newProgram: () => newProgram(apiUrl),
    async startWorkers(n) {
      const before = gw.workers.length;
      for (let i = 0; i < n; i++) {
        const k = before + i;
        gw.workers.push(
          spawnNode(`llm-worker-${k + 1}`, 'services/llm-worker/src/main.ts', {
            env,
            nodeArgs: [...heapFlags(), ...(k === 0 ? prof('llm-worker') : [])],
          }),
        );
      }
      const registry = new WorkerRegistry(redis, keys, 'llm');
      await waitUntil(
        'llm-workers',
        async () => (await registry.online()) >= before + n,
        30_000,
        gw.workers.at(-1),
      );
    },
    async stop() {
      // Workers first (they finish the jobs in hand), then the api, then this run's keys.
      await Promise.all(gw.workers.map((w) => w.stop()));
      await gw.api?.stop();
      await deleteKeys(redis, prefix);
      redis.disconnect();
    },
  };
  try {
    // Services run with the heap cap of the container images (packages/config/src/heap.ts).
    gw.api = spawnNode('api', 'services/api/src/main.ts', {
      env,
      nodeArgs: [...heapFlags(), ...prof('api')],
    });
    await waitUntil(
      'api',
      async () => (await request(`${apiUrl}/health`)).statusCode === 200,
      30_000,
      gw.api,
    );
    if (opts.workers > 0) await gw.startWorkers(opts.workers);
  } catch (err) {
    await gw.stop().catch(() => {});
    throw err;
  }
  return gw;
}

/** Deletes every key of a run (SCAN + UNLINK in batches; never FLUSHDB on the shared Redis). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 2000);
    cursor = next;
    if (keys.length) n += await redis.unlink(...keys);
  } while (cursor !== '0');
  return n;
}

async function newProgram(apiUrl: string): Promise<Record<string, string>> {
  const origin = { origin: apiUrl, 'content-type': 'application/json' };
  const name = `bench${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const reg = await request(`${apiUrl}/auth/register`, {
    method: 'POST',
    headers: origin,
    body: JSON.stringify({ username: name, password: randomBytes(12).toString('hex') }),
  });
  await reg.body.text();
  const raw = reg.headers['set-cookie'];
  const cookie = (Array.isArray(raw) ? raw : raw ? [raw] : [])[0]?.split(';')[0];
  if (reg.statusCode >= 300 || !cookie) return (await newUser(apiUrl)).headers;
  const res = await request(`${apiUrl}/auth/api-keys`, {
    method: 'POST',
    headers: { ...origin, cookie },
    body: JSON.stringify({ name: 'bench' }),
  });
  const text = await res.body.text();
  if (res.statusCode !== 201) return { origin: apiUrl, cookie };
  return { authorization: `Bearer ${(JSON.parse(text) as { key: string }).key}` };
}

async function newUser(apiUrl: string): Promise<Session> {
  const origin = { origin: apiUrl };
  const res = await request(`${apiUrl}/auth/guest`, {
    method: 'POST',
    headers: { ...origin, 'content-type': 'application/json' },
    body: '{}',
  });
  const text = await res.body.text();
  if (res.statusCode === 404) return { cookie: null, userId: null, headers: origin };
  if (res.statusCode >= 300) throw new Error(`POST /auth/guest: ${res.statusCode} ${text}`);
  const raw = res.headers['set-cookie'];
  const first = (Array.isArray(raw) ? raw : raw ? [raw] : [])[0];
  const cookie = first ? first.split(';')[0]! : null;
  const headers = cookie ? { ...origin, cookie } : origin;
  const me = await request(`${apiUrl}/auth/me`, { headers });
  const body = (await me.body.json()) as { user?: { id?: string }; id?: string };
  return { cookie, userId: body.user?.id ?? body.id ?? null, headers };
}
