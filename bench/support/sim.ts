/** The backend simulator, in its own process (like a GPU server) or in this one (to timestamp emits). */
import { type SimConfig, type SimStats, startBackendSim } from '@gateway/backend-sim';
import { Pool } from 'undici';
import { type Proc, spawnNode, waitUntil } from './procs.js';

export interface SimSpec {
  ttftMs: number;
  tokenDelayMs: number;
  replyTokens: number;
  capacity: number;
}

export interface SimHandle {
  url: string;
  spec: SimSpec;
  /** Null when the sim runs in this process. */
  proc: Proc | null;
  stats(): Promise<SimStats>;
  reset(): Promise<void>;
  configure(c: SimConfig): Promise<void>;
  close(): Promise<void>;
}

export const MODEL = 'unsloth/gemma-3-27b-it-bnb-4bit';

/** A vLLM stand-in as its own process (`packages/backend-sim/src/cli.ts`), controlled over /sim/*. */
export async function startSimProcess(spec: SimSpec): Promise<SimHandle> {
  const proc = spawnNode('backend-sim', 'packages/backend-sim/src/cli.ts', {
    args: [
      '--kind',
      'vllm',
      '--port',
      '0',
      '--ttft-ms',
      String(spec.ttftMs),
      '--token-delay-ms',
      String(spec.tokenDelayMs),
      '--reply-tokens',
      String(spec.replyTokens),
      '--capacity',
      String(spec.capacity),
    ],
  });
  let url = '';
  await waitUntil(
    'backend-sim',
    async () => {
      const m = /"url":"([^"]+)"/.exec(proc.output());
      if (m) url = m[1]!;
      return url !== '';
    },
    30_000,
    proc,
  );
  const pool = new Pool(url, { connections: 2 });
  const control = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await pool.request({
      method,
      path,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`sim ${path}: ${res.statusCode} ${text}`);
    return JSON.parse(text) as unknown;
  };
  return {
    url,
    spec,
    proc,
    stats: async () => (await control('GET', '/sim/stats')) as SimStats,
    reset: async () => void (await control('POST', '/sim/reset')),
    configure: async (c) => void (await control('POST', '/sim/config', c)),
    async close() {
      await pool.close();
      await proc.stop();
    },
  };
}

export async function startSimInProcess(spec: SimSpec): Promise<SimHandle> {
  const sim = await startBackendSim({ kind: 'vllm', ...spec });
  return {
    url: sim.url,
    spec,
    proc: null,
    stats: async () => sim.stats(),
    reset: async () => sim.resetStats(),
    configure: async (c) => sim.configure(c),
    close: () => sim.close(),
  };
}

/** How long one reply takes at the sim with a free slot: first piece at ttft, one piece per delay after. */
export const jobMs = (s: SimSpec) => s.ttftMs + s.tokenDelayMs * s.replyTokens;

/** A chat body like the one the llm-worker sends for a role-play turn with no history. */
export function directBody(message: string, stream: boolean): string {
  return JSON.stringify({
    model: MODEL,
    messages: [
      { role: 'system', content: 'You are 미나, a cheerful student. Stay in character and reply briefly.' },
      { role: 'user', content: message },
    ],
    max_tokens: 512,
    temperature: 0.7,
    stream,
  });
}
