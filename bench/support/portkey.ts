/**
 * Portkey's open-source gateway (`@portkey-ai/gateway`, a dev dependency) as a peer to compare with:
 * a stateless proxy, routed to the simulator by its `x-portkey-*` headers.
 */
import { existsSync } from 'node:fs';
import { request } from 'undici';
import { freePort, type Proc, ROOT, spawnNode, waitUntil } from './procs.js';

const ENTRY = 'node_modules/@portkey-ai/gateway/build/start-server.js';

export interface Portkey {
  url: string;
  proc: Proc;
  /** Headers that route a request through Portkey to the simulator at `simUrl`. */
  headers(simUrl: string): Record<string, string>;
}

/** Starts Portkey, or says why it cannot (then the scenarios show our figures without it). */
export async function startPortkey(): Promise<Portkey | { unavailable: string }> {
  if (process.env.BENCH_PORTKEY === '0') return { unavailable: 'disabled with BENCH_PORTKEY=0' };
  if (!existsSync(`${ROOT}/${ENTRY}`)) {
    return { unavailable: '@portkey-ai/gateway is not installed (npm install -D @portkey-ai/gateway)' };
  }
  const port = await freePort();
  // The entry script is plain JS: no tsx loader needed, but spawnNode adds it harmlessly.
  const proc = spawnNode('portkey', ENTRY, { args: [`--port=${port}`, '--headless'] });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil('portkey', async () => (await request(`${url}/`)).statusCode === 200, 30_000, proc);
  } catch (err) {
    await proc.stop();
    return { unavailable: `portkey did not start: ${(err as Error).message.split('\n')[0]}` };
  }
  return {
    url,
    proc,
    headers: (simUrl) => ({
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': `${simUrl}/v1`,
      authorization: 'Bearer sk-bench',
    }),
  };
}

export const isPortkey = (p: Portkey | { unavailable: string }): p is Portkey => 'url' in p;
