import { GatewayError } from '@gateway/contracts';

/**
 * Where a chat job goes in a pool of GPU servers. Pure: the caller reads each server's load and health
 * (Redis) and the conversation's last server, this module decides.
 */

/** One server as the router sees it at this moment. */
export interface ServerLoad {
  name: string;
  /** The models it serves; null while not known (its list could not be read yet). */
  models: readonly string[] | null;
  /** Its cap: requests in flight over all llm-workers. */
  concurrency: number;
  /** False while its circuit breaker is open (the workers found it down). */
  healthy: boolean;
  /** Jobs waiting in its queue. */
  waiting: number;
  /** Jobs running on it. */
  running: number;
  /** Measured wait per place in line while its slots were all busy (ms); null before it was measured. */
  slotGapMs: number | null;
  /** Measured average run time of a job (ms); null before any finished. */
  avgJobMs: number | null;
}

export interface RouteRequest {
  model: string;
  /** The server the conversation's previous turn ran on: its prefix cache holds that history. */
  affinity?: string | null;
  /** A server the job must leave (failover). */
  exclude?: string | null;
}

export type RouteReason =
  /** The conversation's server, healthy and serving the model. */
  | 'affinity'
  /** The healthy server with the shortest expected wait. */
  | 'shortest_wait'
  /** No server serving the model is healthy: the job waits on the least loaded, moved when one recovers. */
  | 'none_healthy';

export type Route = { server: string; reason: RouteReason } | { server: null; reason: 'model_not_served' };

/** Before anything was measured: a GPU turn of a few seconds. */
const DEFAULT_JOB_MS = 4_000;

/** Ollama names `gemma3` and `gemma3:latest` the same model. */
const bare = (m: string) => (m.endsWith(':latest') ? m.slice(0, -':latest'.length) : m);

/** Whether a list of models (as a server reports or an operator lists them) holds `model`. */
export function servesModel(models: readonly string[], model: string): boolean {
  const want = bare(model);
  return models.some((m) => m === model || bare(m) === want);
}

/**
 * Time a job routed now would wait for a slot on `s`: the places ahead of it times the time per place.
 * A place frees up every measured slot gap, but never faster than a job's run time over the cap: the
 * gaps of a server whose jobs started together come in bursts (several finishes at once, then a long
 * pause), and a moving average taken in a burst would make it look many times faster than it is.
 */
export function expectedWaitMs(s: ServerLoad): number {
  const perPlace = Math.max(s.slotGapMs ?? 0, (s.avgJobMs ?? DEFAULT_JOB_MS) / s.concurrency);
  const ahead = s.waiting + s.running + 1 - s.concurrency;
  return Math.max(0, ahead) * perPlace;
}

/** Load as a share of the cap: breaks ties among servers with a free slot so they fill evenly. */
const utilization = (s: ServerLoad) => (s.waiting + s.running) / s.concurrency;

const byWait = (a: ServerLoad, b: ServerLoad) =>
  expectedWaitMs(a) - expectedWaitMs(b) || utilization(a) - utilization(b) || (a.name < b.name ? -1 : 1);

/**
 * Picks the server for a job:
 * 1. only servers that serve its model (a server whose list is unknown is tried only when no known one
 *    does); none at all: `model_not_served`;
 * 2. among the healthy ones, the conversation's previous server when it is one of them (affinity);
 * 3. otherwise the healthy one with the shortest expected wait (backlog over cap, by measured slot gaps);
 * 4. none healthy: the one with the shortest wait, where the job waits until a server serving its model
 *    recovers (the failover then moves it).
 */
export function route(servers: readonly ServerLoad[], req: RouteRequest): Route {
  const eligible = servers.filter((s) => s.name !== req.exclude);
  let candidates = eligible.filter((s) => s.models !== null && servesModel(s.models, req.model));
  if (candidates.length === 0) candidates = eligible.filter((s) => s.models === null);
  if (candidates.length === 0) return { server: null, reason: 'model_not_served' };
  const healthy = candidates.filter((s) => s.healthy);
  if (healthy.length === 0) return { server: [...candidates].sort(byWait)[0]!.name, reason: 'none_healthy' };
  if (req.affinity && healthy.some((s) => s.name === req.affinity)) {
    return { server: req.affinity, reason: 'affinity' };
  }
  return { server: [...healthy].sort(byWait)[0]!.name, reason: 'shortest_wait' };
}

/** Every model the pool serves, each once (a server's list as it reports it). */
export function poolModels(servers: readonly Pick<ServerLoad, 'models'>[]): string[] {
  const out: string[] = [];
  for (const s of servers) for (const m of s.models ?? []) if (!servesModel(out, m)) out.push(m);
  return out;
}

/** The 400 for a model no server of the pool serves. */
export function modelNotServed(model: string, served: readonly string[]): GatewayError {
  return new GatewayError(
    'invalid_input',
    `no server serves the model \`${model}\`${served.length ? `; served here: ${served.join(', ')}` : ''}`,
    { details: [{ field: 'body.model', message: `model ${model} is not served by any server` }] },
  );
}
