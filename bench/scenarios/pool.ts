/**
 * A pool of two GPU servers of different sizes (simulators with 4 and 8 slots, LLM_BACKENDS caps 4 and
 * 8), a backlog of jobs, 2 worker processes. Does the routing keep both servers busy, so the pool passes
 * its combined capacity (12 / job time), and does either server ever get more than its cap?
 * Baseline: the theoretical maximum of the two servers together.
 */
import { type Gateway, startGateway } from '../support/gateway.js';
import { pool as httpPool, submitJob } from '../support/http.js';
import { countBy, poll, readJobs } from '../support/jobs.js';
import { closedLoop } from '../support/load.js';
import { target } from '../support/report.js';
import type { Scenario } from '../support/scenario.js';
import { jobMs, MODEL, type SimSpec, startSimProcess } from '../support/sim.js';
import { lineChart } from '../support/svg.js';

const CAPS = { 'gpu-a': 4, 'gpu-b': 8 } as const;
const COMBINED = CAPS['gpu-a'] + CAPS['gpu-b'];

export const scenario: Scenario = {
  name: 'pool',
  title: 'A pool of two servers (caps 4 + 8): share of the combined capacity used, never above either cap',
  order: 32,
  async run(ctx) {
    const scale = ctx.quick ? 0.25 : Number(process.env.BENCH_POOL_SCALE ?? 0.5);
    const jobs = ctx.quick ? 150 : Number(process.env.BENCH_POOL_JOBS ?? 500);
    const base = { ttftMs: 300 * scale, tokenDelayMs: 20 * scale, replyTokens: 100 };
    const specs: Record<keyof typeof CAPS, SimSpec> = {
      'gpu-a': { ...base, capacity: CAPS['gpu-a'] },
      'gpu-b': { ...base, capacity: CAPS['gpu-b'] },
    };
    const oneJob = jobMs(specs['gpu-a']);
    const maxRate = (COMBINED * 1000) / oneJob;
    const [simA, simB] = await Promise.all([
      startSimProcess(specs['gpu-a']),
      startSimProcess(specs['gpu-b']),
    ]);
    let gw: Gateway | undefined;
    try {
      gw = await startGateway({
        sim: simA,
        workers: 2,
        env: {
          LLM_BACKENDS: JSON.stringify([
            { name: 'gpu-a', service: 'vllm', url: simA.url, concurrency: CAPS['gpu-a'], models: [MODEL] },
            { name: 'gpu-b', service: 'vllm', url: simB.url, concurrency: CAPS['gpu-b'], models: [MODEL] },
          ]),
        },
      });
      const user = await gw.newUser();
      const api = httpPool(gw.apiUrl, 32);
      const ids: string[] = [];
      ctx.log(`gateway: submitting ${jobs} jobs to a pool of caps ${CAPS['gpu-a']} + ${CAPS['gpu-b']}`);
      const occupancy: Record<string, [number, number][]> = { 'gpu-a': [], 'gpu-b': [], pool: [] };
      const tStart = performance.now();
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const [a, b] = await Promise.all([simA.stats(), simB.stats()]);
          const t = (performance.now() - tStart) / 1000;
          occupancy['gpu-a']!.push([t, a.generating]);
          occupancy['gpu-b']!.push([t, b.generating]);
          occupancy.pool!.push([t, a.generating + b.generating]);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const submit = await closedLoop({
        concurrency: 32,
        totalOps: jobs,
        op: async (_c, i) => void ids.push((await submitJob(api, user, `pool ${i}`)).jobId),
      });
      await api.close();
      ctx.log(`submitted in ${submit.seconds.toFixed(1)} s; waiting for the backlog to drain`);
      const drained = await poll(
        async () => (await simA.stats()).completed + (await simB.stats()).completed >= jobs,
        (jobs * oneJob) / COMBINED + 60_000,
      );
      sampling = false;
      await sampler;
      const [statsA, statsB] = await Promise.all([simA.stats(), simB.stats()]);
      const recs = await readJobs(gw.redis, gw.keys, ids);
      const statuses = countBy(recs, (r) => r.status);
      const first = Math.min(...recs.map((r) => r.createdAt));
      const last = Math.max(...recs.map((r) => r.finishedAt ?? 0));
      const makespan = (last - first) / 1000;
      const achieved = jobs / makespan;
      // Busy slots while the backlog lasted: after the first second, before the last full round.
      const steady = (series: [number, number][]) => {
        const s = series.filter(([t]) => t > 1 && t < makespan - oneJob / 1000);
        return s.length ? s.reduce((n, [, v]) => n + v, 0) / s.length : Number.NaN;
      };
      const busy = { 'gpu-a': steady(occupancy['gpu-a']!), 'gpu-b': steady(occupancy['gpu-b']!) };
      const busyPool = steady(occupancy.pool!);
      const usedPct = (100 * busyPool) / COMBINED;
      return {
        setup: {
          servers: specs,
          caps: CAPS,
          jobTimeMs: oneJob,
          jobs,
          workers: 2,
          timingScale: scale,
        },
        tables: [
          {
            title: `the pool with a backlog (combined capacity ${COMBINED}; theoretical maximum = ${COMBINED} / ${oneJob} ms)`,
            columns: ['gpu-a', 'gpu-b', 'pool', 'theoretical max'],
            rows: [
              {
                metric: 'mean busy slots while backlogged',
                unit: 'slots',
                values: {
                  'gpu-a': busy['gpu-a'],
                  'gpu-b': busy['gpu-b'],
                  pool: busyPool,
                  'theoretical max': COMBINED,
                },
              },
              {
                metric: '% of capacity used while backlogged',
                unit: '%',
                values: {
                  'gpu-a': (100 * busy['gpu-a']) / CAPS['gpu-a'],
                  'gpu-b': (100 * busy['gpu-b']) / CAPS['gpu-b'],
                  pool: usedPct,
                  'theoretical max': 100,
                },
              },
              {
                metric: 'most requests ever open at the server',
                unit: '',
                values: {
                  'gpu-a': statsA.maxInFlight,
                  'gpu-b': statsB.maxInFlight,
                  pool: null,
                  'theoretical max': null,
                },
              },
              {
                metric: 'jobs completed',
                unit: '',
                values: {
                  'gpu-a': statsA.completed,
                  'gpu-b': statsB.completed,
                  pool: statsA.completed + statsB.completed,
                  'theoretical max': jobs,
                },
              },
              {
                metric: 'jobs/s',
                unit: 'jobs/s',
                values: { 'gpu-a': null, 'gpu-b': null, pool: achieved, 'theoretical max': maxRate },
              },
              {
                metric: '% of theoretical max throughput (whole run, ramp and tail included)',
                unit: '%',
                values: {
                  'gpu-a': null,
                  'gpu-b': null,
                  pool: (100 * achieved) / maxRate,
                  'theoretical max': 100,
                },
              },
            ],
          },
        ],
        targets: [
          target('combined capacity used while backlogged', usedPct, '>=', 98, '%'),
          target('most in flight at gpu-a', statsA.maxInFlight, '<=', CAPS['gpu-a'], 'requests'),
          target('most in flight at gpu-b', statsB.maxInFlight, '<=', CAPS['gpu-b'], 'requests'),
          target('every job completed once', statsA.completed + statsB.completed, '==', jobs, 'jobs'),
        ],
        notes: [
          `capacity used = mean of (gpu-a generating + gpu-b generating), sampled every 100 ms between the first second and the last full round, over ${COMBINED}.`,
          `job statuses: ${JSON.stringify(statuses)}; gpu-a requests ${statsA.requests}, completed ${statsA.completed}; gpu-b requests ${statsB.requests}, completed ${statsB.completed}` +
            (drained ? '' : ' (did not drain before the timeout)'),
          `jobs/s = ${jobs} / (last finished_at - first created_at), makespan ${makespan.toFixed(1)} s.`,
          ...(scale !== 1
            ? [`timing scaled by ${scale} (ttft ${base.ttftMs} ms, ${base.tokenDelayMs} ms per token)`]
            : []),
        ],
        charts: [
          {
            file: 'pool-occupancy.svg',
            title: 'Slots busy on each server of the pool',
            svg: lineChart({
              title: `Slots generating per server (caps ${CAPS['gpu-a']} and ${CAPS['gpu-b']}, ${jobs} jobs)`,
              xLabel: 'seconds since the first submission',
              yLabel: 'slots generating',
              series: [
                { name: 'gpu-a (cap 4)', points: occupancy['gpu-a']! },
                { name: 'gpu-b (cap 8)', points: occupancy['gpu-b']! },
                { name: 'pool', points: occupancy.pool! },
              ],
            }),
          },
        ],
        data: { occupancy, statuses, simStats: { 'gpu-a': statsA, 'gpu-b': statsB }, makespan, achieved },
      };
    } finally {
      await gw?.stop();
      await Promise.all([simA.close(), simB.close()]);
    }
  },
};
