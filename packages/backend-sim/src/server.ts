// The HTTP server: dispatch to control endpoints, the chat flow or the protocol's other routes;
// stop()/start() keep the same port and state so tests can simulate a backend restart.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { handleChat } from './chat.js';
import { handleControl } from './control.js';
import { ollamaProtocol } from './ollama.js';
import type { Protocol } from './protocol.js';
import { SimState } from './state.js';
import type { BackendSim, SimConfig, SimOptions } from './types.js';
import { vllmProtocol } from './vllm.js';

function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

/** Starts a simulated vLLM or Ollama server; resolves once it accepts connections. */
export async function startBackendSim(opts: SimOptions): Promise<BackendSim> {
  if (opts.kind !== 'vllm' && opts.kind !== 'ollama')
    throw new TypeError(`backend-sim: unknown kind ${String(opts.kind)}`);
  const state = new SimState(opts);
  const proto: Protocol = opts.kind === 'vllm' ? vllmProtocol : ollamaProtocol;
  const host = opts.host ?? '127.0.0.1';

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === proto.chatPath && req.method === 'POST') return handleChat(proto, state, req, res, path);
    if (path.startsWith('/sim/')) return handleControl(req, res, path, state);
    proto.route(req, res, path, state);
  });
  // Benchmarks hold many keep-alive connections; never let node time out a slow generation.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;

  let port = await listen(server, opts.port ?? 0, host);
  let listening = true;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  const stop = async () => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Open requests see their socket destroyed, as when a backend process dies.
    server.closeAllConnections();
    await closed;
  };

  return {
    kind: opts.kind,
    get port() {
      return port;
    },
    get url() {
      return `http://${urlHost}:${port}`;
    },
    stats: () => state.stats(),
    resetStats: () => state.reset(),
    requests: () => state.requests(),
    configure: (c: SimConfig) => state.configure(c),
    stop,
    start: async () => {
      if (listening) return;
      port = await listen(server, port, host);
      listening = true;
    },
    close: stop,
  };
}
