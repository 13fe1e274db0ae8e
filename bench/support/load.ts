/** A closed-loop load generator: N clients, each starting its next operation when the last ends. */
import { now } from './stats.js';

export interface LoadResult {
  /** Operations that ended inside the measurement window. */
  ops: number;
  errors: number;
  firstError: string | null;
  /** Length of the measurement window in seconds. */
  seconds: number;
  /** ops / seconds. */
  rate: number;
  /** Durations (ms) of the operations that started and ended inside the window. */
  latencies: number[];
  /** Operations that succeeded, warm-up and all. */
  okTotal: number;
}

export interface LoadOptions {
  concurrency: number;
  /** Run for this long after the warm-up... */
  durationMs?: number;
  /** ...or until this many operations were started in total (warm-up included). */
  totalOps?: number;
  warmupMs?: number;
  /** One operation of client `client`; `seq` counts operations over all clients. */
  op: (client: number, seq: number) => Promise<void>;
}

export async function closedLoop(o: LoadOptions): Promise<LoadResult> {
  const warmup = o.warmupMs ?? 0;
  const start = now();
  const measureFrom = start + warmup;
  const until = o.durationMs === undefined ? Number.POSITIVE_INFINITY : measureFrom + o.durationMs;
  let seq = 0;
  let ops = 0;
  let errors = 0;
  let okTotal = 0;
  let firstError: string | null = null;
  let lastEnd = measureFrom;
  const latencies: number[] = [];
  const client = async (c: number) => {
    for (;;) {
      const t0 = now();
      if (t0 >= until || (o.totalOps !== undefined && seq >= o.totalOps)) return;
      const n = seq++;
      try {
        await o.op(c, n);
        okTotal++;
        const t1 = now();
        if (t1 >= measureFrom && t1 <= until) {
          ops++;
          lastEnd = Math.max(lastEnd, t1);
          if (t0 >= measureFrom) latencies.push(t1 - t0);
        }
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
        // Do not spin on a dead endpoint.
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, (_, c) => client(c)));
  const end = o.durationMs === undefined ? lastEnd : Math.min(until, Math.max(lastEnd, measureFrom));
  const seconds = Math.max(1e-9, (end - measureFrom) / 1000);
  return { ops, errors, firstError, seconds, rate: ops / seconds, latencies, okTotal };
}
