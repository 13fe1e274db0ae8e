import type { ChatJobView } from '@gateway/contracts';
import { chunksReady, type JobRecord } from '@gateway/queue';
import type { ApiDeps } from '../deps.js';
import { notFound } from '../errors.js';
import { jobLinks } from './submit.js';

const iso = (ms: number | null) => (ms ? new Date(ms).toISOString() : null);

export interface QueueEstimate {
  queue_position: number | null;
  eta_seconds: number | null;
  workers_online: number | null;
}

/** The server a job waits or runs on: its record says; the first server before it was placed. */
const serverOf = (deps: ApiDeps, rec: JobRecord) =>
  rec.server && deps.pool.names.includes(rec.server) ? rec.server : deps.pool.names[0]!;

/**
 * Where a waiting job stands on the server it waits for: its place in that server's line and when it
 * should start, from that server's recent job times and cap.
 */
export async function estimateQueue(deps: ApiDeps, rec: JobRecord): Promise<QueueEstimate> {
  const queued = rec.status === 'queued';
  const server = serverOf(deps, rec);
  const stats = deps.pool.stats(server);
  const [workers, position, times] = await Promise.all([
    deps.llmWorkers.online(),
    queued ? stats.position(rec.id) : Promise.resolve(null),
    queued ? stats.timings() : Promise.resolve({ slotGapMs: null, averageJobMs: null }),
  ]);
  const gapMs = times.slotGapMs;
  const avgMs = times.averageJobMs;
  // The job starts after `position` slots free up: one every measured gap while saturated, or, before
  // any gap was seen, one every average run time divided by the server's cap.
  const perPlaceMs = gapMs ?? (avgMs ?? 2_000) / deps.pool.concurrency(server);
  const eta = position === null ? null : Math.round((position * perPlaceMs) / 100) / 10;
  return { queue_position: position, eta_seconds: eta, workers_online: workers };
}

/** Speech not ended yet: `running` with the chunks ready so far once the first sentence is spoken. */
async function speechProgress(deps: ApiDeps, rec: JobRecord): Promise<JobRecord['tts']> {
  // Only realtime speech is spoken while the reply streams; the others need no look.
  if (rec.tts?.status !== 'pending' || rec.tts.mode !== 'realtime' || rec.attempt < 1) return rec.tts;
  const ready = await chunksReady(deps.redis, deps.keys, rec.id, rec.attempt);
  return ready > 0 ? { ...rec.tts, status: 'running', chunks_ready: ready } : rec.tts;
}

export async function jobView(deps: ApiDeps, rec: JobRecord): Promise<ChatJobView> {
  const [q, backend] = await Promise.all([
    estimateQueue(deps, rec),
    rec.status === 'queued' || rec.status === 'running'
      ? deps.pool.state(serverOf(deps, rec)).get()
      : Promise.resolve(null),
  ]);
  const tts =
    rec.tts && rec.tts.status === 'completed'
      ? { ...rec.tts, audio_url: jobLinks(rec.id).audio }
      : await speechProgress(deps, rec);
  return {
    job_id: rec.id,
    conversation_id: rec.conversationId,
    status: rec.status,
    ...q,
    ...(backend ? { backend: { status: backend.status } } : {}),
    attempt: rec.attempt,
    created_at: iso(rec.createdAt) ?? new Date(0).toISOString(),
    started_at: iso(rec.startedAt),
    finished_at: iso(rec.finishedAt),
    reply: rec.reply,
    tts,
    error: rec.error,
  };
}

/** The job when it belongs to `owner`; a 404 otherwise, so that ids of others cannot be probed. */
export async function getOwnedJob(deps: ApiDeps, id: string, owner: string): Promise<JobRecord> {
  const rec = await deps.jobs.get(id);
  if (!rec || rec.owner !== owner) throw notFound('job');
  return rec;
}
