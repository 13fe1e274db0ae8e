import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WorkerRegistry } from './queue-stats.js';

interface LifecycleLog {
  info(obj: object, msg: string): void;
  info(msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface WorkerLifecycle {
  workerId: string;
  /** The process's BullMQ workers (an llm-worker runs one per GPU server). */
  worker: Worker | Worker[];
  registry: WorkerRegistry;
  redis: Redis;
  log: LifecycleLog;
  /** Closes what the process opened besides the worker and Redis (clients, queues, servers). */
  closeOthers: () => Promise<unknown>;
  heartbeatMs?: number;
}

/**
 * The parts every worker process shares: a heartbeat so the api can count workers online, and a
 * graceful stop on SIGTERM/SIGINT that finishes the jobs in hand (BullMQ `close()` stops taking jobs
 * and waits), so none is left to stall. A second signal exits at once.
 */
export async function runWorkerLifecycle(o: WorkerLifecycle): Promise<void> {
  const beat = () =>
    o.registry.beat(o.workerId).catch((err: unknown) => o.log.warn({ err }, 'heartbeat failed'));
  await beat();
  const heartbeat = setInterval(beat, o.heartbeatMs ?? 5_000);
  heartbeat.unref();

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      o.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    o.log.info({ signal }, 'stopping: finishing the jobs in hand');
    clearInterval(heartbeat);
    await Promise.all((Array.isArray(o.worker) ? o.worker : [o.worker]).map((w) => w.close()));
    await o.registry.leave(o.workerId).catch(() => {});
    await o.closeOthers().catch(() => {});
    await o.redis.quit().catch(() => {});
    o.log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
