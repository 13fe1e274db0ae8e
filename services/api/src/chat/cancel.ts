import { GatewayError, TERMINAL_STATUSES } from '@gateway/contracts';
import { endJob, type JobRecord } from '@gateway/queue';
import type { ApiDeps } from '../deps.js';

/**
 * Cancels a job. A waiting job leaves the queue at once; a running one is aborted by the worker that
 * holds it (told over pub/sub), which ends it `cancelled`. The flag in the record closes the race with a
 * worker that is just taking the job: it refuses to start a job marked for cancellation.
 */
export async function cancelChatJob(deps: ApiDeps, rec: JobRecord): Promise<'cancelled' | 'cancelling'> {
  if (TERMINAL_STATUSES.has(rec.status)) {
    throw new GatewayError('conflict', `the job already ended (${rec.status})`, {
      details: { status: rec.status },
    });
  }
  await deps.jobs.requestCancel(rec.id);
  // In a pool, the queue of the server the job was placed on.
  const queue = deps.pool.queue(
    rec.server && deps.pool.names.includes(rec.server) ? rec.server : deps.pool.names[0]!,
  );
  const state = await queue.getJobState(rec.id);
  if (state !== 'active') {
    // Waiting, delayed for a retry, or not yet enqueued behind an earlier turn.
    if (state !== 'unknown') await queue.remove(rec.id).catch(() => 0);
    const ended = await endJob(deps, rec, 'cancelled', { tts: { status: 'skipped', reason: 'cancelled' } }, [
      { event: 'done', data: { status: 'cancelled' } },
    ]);
    if (ended.finished) {
      // In a pool the job may have just moved to another server and started there: tell the workers.
      if (!deps.pool.single) await deps.redis.publish(deps.keys.cancelChannel(), rec.id);
      return 'cancelled';
    }
  }
  await deps.redis.publish(deps.keys.cancelChannel(), rec.id);
  return 'cancelling';
}
