/**
 * A million waiting jobs (issue #15), opt-in only (`npm run bench -- backlog`; `--quick` or
 * BACKLOG_JOBS=<n> for a smaller run): jobs are queued through the api with no llm-worker running, on a
 * private redis-server, spread over many users, each a new conversation. It records submit latency on
 * the empty queue and at the end of the backlog, Redis used_memory, then starts workers and drains the
 * backlog, checking nothing was lost (every job completed, one backend request per job).
 */

import type { Pool } from 'undici';
import { RedisServer } from '../../test/support/redis-server.js';
import { type Gateway, type Session, startGateway } from '../support/gateway.js';
import { pool, submitJob } from '../support/http.js';
import { freePort } from '../support/procs.js';
import { usedMemory } from '../support/redis-cost.js';
import { target } from '../support/report.js';
import type { Scenario } from '../support/scenario.js';
import { startSimProcess } from '../support/sim.js';
import { percentile } from '../support/stats.js';

const SIM = { ttftMs: 0, tokenDelayMs: 0, replyTokens: 4, capacity: 1000 };
/** Submissions running at once, and the window (in jobs) whose latencies each p99 is taken over. */
const PARALLEL = 16;
const WINDOW = 2_000;
/** The first submissions warm the api (JIT, connections): the empty queue's window starts after them. */
const WARMUP = 500;
const USERS = 1_000;

export const scenario: Scenario = {
  name: 'backlog',
  title: 'A million waiting jobs: submit latency, Redis memory, then the drain',
  order: 90,
  inSuite: false,
  async run(ctx) {
    const jobs = Number(process.env.BACKLOG_JOBS ?? (ctx.quick ? 50_000 : 1_000_000));
    const users = Math.min(USERS, Math.max(1, Math.floor(jobs / 50)));
    const perUser = Math.ceil(jobs / users);
    const server = new RedisServer(await freePort(), 'everysec');
    await server.start();
    const sim = await startSimProcess(SIM);
    let gw: Gateway | undefined;
    try {
      gw = await startGateway({
        sim,
        workers: 0,
        redisUrl: server.url,
        env: {
          QUEUE_MAX_DEPTH: String(jobs + 1_000),
          USER_MAX_ACTIVE_JOBS: String(Math.min(100_000, perUser + 100)),
          LLM_CONCURRENCY: '256',
        },
      });
      const g = gw;
      ctx.log(`${users} users`);
      const sessions: Session[] = [];
      for (let i = 0; i < users; i++) sessions.push(await g.newUser());
      const api = pool(g.apiUrl, PARALLEL);
      const ids: string[] = new Array(jobs);
      const ms: number[] = new Array(jobs);
      const emptyMemory = await usedMemory(g.redis);
      ctx.log(`queueing ${jobs} jobs, no worker`);
      const started = performance.now();
      await submitAll(api, sessions, jobs, ids, ms, (n) => {
        if (n % 50_000 === 0) ctx.log(`${n} queued`);
      });
      const submitS = (performance.now() - started) / 1000;
      const memory = await usedMemory(g.redis);
      const p99 = (from: number) =>
        percentile(
          [...ms.slice(from, from + WINDOW)].sort((a, b) => a - b),
          99,
        );
      const emptyP99 = p99(Math.min(WARMUP, Math.max(0, jobs - WINDOW)));
      const fullP99 = p99(jobs - WINDOW);
      const bytesPerJob = (memory - emptyMemory) / jobs;
      // How the submit p99 moves as the backlog grows: each tenth of the run.
      const trend = Array.from(
        { length: 10 },
        (_, k) =>
          Math.round(p99(Math.min(jobs - WINDOW, Math.floor(((k + 1) * jobs) / 10) - WINDOW)) * 10) / 10,
      );
      ctx.log(
        `p99 ${emptyP99.toFixed(1)} ms -> ${fullP99.toFixed(1)} ms; ${(memory / 2 ** 20).toFixed(0)} MiB`,
      );
      await api.close();

      ctx.log('draining with 2 llm-workers');
      const drainStart = performance.now();
      await g.startWorkers(2);
      const ended = await waitEnded(g, ids, ctx.log);
      const drainS = (performance.now() - drainStart) / 1000;
      const backendRequests = (await sim.stats()).requests;
      ctx.log(
        `drained in ${drainS.toFixed(0)} s: ${JSON.stringify(ended)}; backend requests ${backendRequests}`,
      );
      const completed = ended.completed ?? 0;
      return {
        setup: { sim: SIM, jobs, users, parallel: PARALLEL, p99Window: WINDOW, workers: 2 },
        tables: [
          {
            title: `${jobs} waiting jobs over ${users} users, no worker; then the drain`,
            columns: ['value'],
            rows: [
              {
                metric: `submit p99, empty queue (after ${WARMUP} warm-up jobs)`,
                unit: 'ms',
                values: { value: emptyP99 },
              },
              { metric: `submit p99, last ${WINDOW} jobs`, unit: 'ms', values: { value: fullP99 } },
              {
                metric: 'Redis used_memory with the backlog',
                unit: 'MiB',
                values: { value: memory / 2 ** 20 },
              },
              { metric: 'Redis bytes per waiting job', unit: 'bytes', values: { value: bytesPerJob } },
              { metric: 'submissions per second', unit: '/s', values: { value: jobs / submitS } },
              { metric: 'drain', unit: 's', values: { value: drainS } },
              { metric: 'jobs completed', unit: '', values: { value: completed } },
              { metric: 'backend requests', unit: '', values: { value: backendRequests } },
            ],
          },
        ],
        targets: [
          target('submit p99 with the backlog, against the empty queue', fullP99 / emptyP99, '<=', 1.2, 'x'),
          target(
            'Redis used_memory with the backlog',
            memory / 2 ** 30,
            '<=',
            jobs >= 1_000_000 ? 1 : jobs / 1e6,
            'GiB',
          ),
          target('jobs completed of those submitted', completed / jobs, '>=', 1, ''),
          target('backend requests per job', backendRequests / jobs, '<=', 1, ''),
        ],
        notes: [
          `Job ends by status: ${JSON.stringify(ended)}.`,
          `Submit p99 (ms) over the ${WINDOW} submissions ending each tenth of the backlog: ${trend.join(', ')}.`,
          'The memory target scales with the number of jobs (1 GiB for a million).',
        ],
        charts: [],
        data: { emptyP99, fullP99, trend, memory, bytesPerJob, submitS, drainS, ended, backendRequests },
      };
    } finally {
      await gw?.stop();
      await sim.close();
      await server.stop();
    }
  },
};

/** Submits `jobs` new conversations, `PARALLEL` at a time, round-robin over the users. */
async function submitAll(
  api: Pool,
  sessions: Session[],
  jobs: number,
  ids: string[],
  ms: number[],
  progress: (n: number) => void,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < jobs) {
        const i = next++;
        const t = performance.now();
        const r = await submitJob(api, sessions[i % sessions.length]!, `backlog ${i}`);
        ms[i] = performance.now() - t;
        ids[i] = r.jobId;
        progress(i + 1);
      }
    }),
  );
}

/** Waits until every job's record has ended; returns the count by final status. */
async function waitEnded(
  g: Gateway,
  ids: string[],
  log: (m: string) => void,
): Promise<Record<string, number>> {
  let open = ids;
  const ended: Record<string, number> = {};
  for (;;) {
    const still: string[] = [];
    for (let i = 0; i < open.length; i += 5_000) {
      const batch = open.slice(i, i + 5_000);
      const pipe = g.redis.pipeline();
      for (const id of batch) pipe.hget(g.keys.job(id), 'status');
      const res = (await pipe.exec()) ?? [];
      batch.forEach((id, k) => {
        const status = String(res[k]?.[1] ?? 'missing');
        if (status === 'queued' || status === 'running') still.push(id);
        else ended[status] = (ended[status] ?? 0) + 1;
      });
    }
    open = still;
    if (open.length === 0) return ended;
    log(`${open.length} still to end`);
    await new Promise((r) => setTimeout(r, 5_000));
  }
}
