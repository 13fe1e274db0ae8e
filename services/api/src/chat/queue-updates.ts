import type { JobRecord } from '@gateway/queue';
import type { ApiDeps } from '../deps.js';
import { estimateQueue, type QueueEstimate } from './job-view.js';

/**
 * While a job waits, tells its SSE client where it stands whenever that changes, at most once per
 * `intervalMs` (one cheap ZRANK/LPOS per waiting client per interval). Stops when the job leaves the line.
 */
export function watchQueuePosition(
  deps: ApiDeps,
  rec: JobRecord,
  send: (estimate: QueueEstimate) => void,
  intervalMs = 1_000,
): { stop(): void } {
  let last = '';
  let stopped = false;
  const tick = async () => {
    try {
      const q = await estimateQueue(deps, rec);
      if (stopped) return;
      if (q.queue_position === null) return;
      const key = `${q.queue_position}|${q.workers_online}`;
      if (key !== last) {
        last = key;
        send(q);
      }
    } catch {
      // Redis hiccup: the next tick tries again.
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
