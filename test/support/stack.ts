import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type BackendSim, type SimOptions, startBackendSim } from '@gateway/backend-sim';
import { Redis } from 'ioredis';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const REDIS_URL = () => process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export const SERVICE_FILES = {
  api: 'services/api/src/main.ts',
  'llm-worker': 'services/llm-worker/src/main.ts',
  'tts-worker': 'services/tts-worker/src/main.ts',
} as const;
export type ServiceName = keyof typeof SERVICE_FILES;

/**
 * How long a service may take to print its ready line. tsx compiles the service's sources at each
 * start: about 2 s on a quiet 2-core machine, but over 20 s when both cores are busy (two test files
 * at once, each starting processes, on a loaded CI runner). Within vitest's 60 s hook timeout.
 */
const READY_TIMEOUT_MS = 50_000;

export interface RunningProcess {
  name: string;
  proc: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the first parsed JSON log line that matches. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

export interface StackOptions {
  kind: 'vllm' | 'ollama';
  sim?: Omit<Partial<SimOptions>, 'kind'>;
  /** Processes to start, in order; default one api and one llm-worker. */
  services?: ServiceName[];
  env?: Record<string, string>;
}

export interface Stack {
  apiUrl: string;
  sim: BackendSim;
  prefix: string;
  env: Record<string, string>;
  processes: RunningProcess[];
  redis: Redis;
  start(name: ServiceName, env?: Record<string, string>): Promise<RunningProcess>;
  stop(): Promise<void>;
}

/** Starts one service as its own Node process, the way `npm start` does. */
export function startProcess(name: ServiceName, env: Record<string, string>): Promise<RunningProcess> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@gateway/source', SERVICE_FILES[name]],
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const waiters: {
    match: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  const seen: Record<string, unknown>[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    out += text;
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        seen.push(parsed);
        for (const w of waiters.splice(0)) {
          if (w.match(parsed)) w.resolve(parsed);
          else waiters.push(w);
        }
      } catch {
        // not a log line
      }
    }
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const running: RunningProcess = {
    name,
    proc,
    output: () => out,
    exited,
    waitForLog(match, timeoutMs = READY_TIMEOUT_MS) {
      const hit = seen.find(match);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`${name}: no matching log line in ${timeoutMs} ms; output:\n${out.slice(-3000)}`),
            ),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited with ${code} before it was ready; output:\n${out.slice(-3000)}`));
        });
      });
    },
  };
  const readyMsg = name === 'api' ? 'api ready' : `${name} ready`;
  return running.waitForLog((l) => l.msg === readyMsg).then(() => running);
}

export async function stopProcess(p: RunningProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.kill(signal);
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), 15_000);
  await p.exited;
  clearTimeout(timer);
}

/** A simulator in this process, plus real api and worker processes on a fresh Redis key prefix. */
export async function startStack(opts: StackOptions): Promise<Stack> {
  const sim = await startBackendSim({ kind: opts.kind, ...opts.sim });
  const prefix = `t${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  const env: Record<string, string> = {
    REDIS_URL: REDIS_URL(),
    REDIS_PREFIX: prefix,
    LLM_SERVICE: opts.kind,
    [opts.kind === 'vllm' ? 'VLLM_BASE_URL' : 'OLLAMA_BASE_URL']: sim.url,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    TTS_DEFAULT: 'false',
    LLM_BACKOFF_MS: '50',
    NODE_ENV: 'test',
    METRICS_PORT: '0',
    // Load tests submit hundreds of jobs a minute from one address; test/limits.test.ts sets its own.
    SUBMIT_RATE_PER_USER: '10000000',
    SUBMIT_RATE_PER_IP: '10000000',
    // Every test's guests come from 127.0.0.1; test/abuse.test.ts sets its own guest limits.
    GUEST_RATE_PER_IP: '10000000',
    GUEST_RATE_GLOBAL: '10000000',
    ...opts.env,
  };
  const redis = new Redis(env.REDIS_URL!, { maxRetriesPerRequest: null });
  redis.on('error', () => {}); // fault tests take Redis away on purpose
  const processes: RunningProcess[] = [];
  let apiUrl = '';
  const start = async (name: ServiceName, extra: Record<string, string> = {}) => {
    const p = await startProcess(name, { ...env, ...extra });
    processes.push(p);
    if (name === 'api') {
      const ready = await p.waitForLog((l) => l.msg === 'api ready');
      apiUrl = `http://127.0.0.1:${ready.port as number}`;
    }
    return p;
  };
  const stack: Stack = {
    get apiUrl() {
      return apiUrl;
    },
    sim,
    prefix,
    env,
    processes,
    redis,
    start,
    async stop() {
      await Promise.all(processes.map((p) => stopProcess(p)));
      await sim.close();
      const keys = await redis.keys(`${prefix}:*`);
      for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
      redis.disconnect();
    },
  };
  try {
    for (const name of opts.services ?? ['api', 'llm-worker']) await start(name);
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}
