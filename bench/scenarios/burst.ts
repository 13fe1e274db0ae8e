/**
 * A burst: 20,000 jobs submitted as fast as possible against a capacity-12 backend with short replies.
 * Every job must complete once (job statuses, attempts, simulator request count); the api's memory
 * must stay flat; Redis memory per job is measured. Baseline: the same requests sent straight to the
 * simulator by 64 closed-loop clients.
 */
import { type Gateway, startGateway } from '../support/gateway.js';
import { pool, submitJob } from '../support/http.js';
import { countBy, poll, readJobs, usedMemory } from '../support/jobs.js';
import { closedLoop } from '../support/load.js';
import { sampleRss } from '../support/procs.js';
import { target } from '../support/report.js';
import type { Scenario } from '../support/scenario.js';
import { directBody, jobMs, type SimSpec, startSimProcess } from '../support/sim.js';
import { summarize } from '../support/stats.js';
import { lineChart } from '../support/svg.js';

const SPEC: SimSpec = { ttftMs: 5, tokenDelayMs: 1, replyTokens: 4, capacity: 12 };

/** MEMORY USAGE of every key one queued job owns (record, events, BullMQ job, conversation). */
async function bytesOfOneJob(gw: Gateway, jobId: string): Promise<number | null> {
  const job = await gw.redis.hget(gw.keys.job(jobId), 'conversation_id');
  if (!job) return null;
  const keys = [
    gw.keys.job(jobId),
    gw.keys.events(jobId),
    `${gw.prefix}:{chat}:${jobId}`,
    gw.keys.conversation(job),
    gw.keys.conversationTurns(job),
    gw.keys.conversationPending(job),
  ];
  let sum = 0;
  for (const k of keys) sum += Number((await gw.redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0);
  return sum;
}

export const scenario: Scenario = {
  name: 'burst',
  title: 'Burst of 20,000 jobs against a capacity-12 backend: nothing lost, memory flat',
  order: 40,
  async run(ctx) {
    const total = ctx.quick ? 2_000 : Number(process.env.BENCH_BURST_JOBS ?? 20_000);
    const sim = await startSimProcess(SPEC);
    let gw: Gateway | undefined;
    try {
      ctx.log(`simulator alone: ${total} requests from 64 clients`);
      const p = pool(sim.url, 64);
      const direct = await closedLoop({
        concurrency: 64,
        totalOps: total,
        op: async (_c, i) => {
          const res = await p.request({
            method: 'POST',
            path: '/v1/chat/completions',
            headers: { 'content-type': 'application/json' },
            body: directBody(`burst direct ${i}`, true),
          });
          await res.body.text();
        },
      });
      await p.close();
      await sim.reset();

      gw = await startGateway({ sim, workers: 2, env: { LLM_CONCURRENCY: '12' } });
      const user = await gw.newUser();
      const memBefore = await usedMemory(gw.redis);
      const rss = sampleRss(gw.api.pid, 250);
      const api = pool(gw.apiUrl, 64);
      const ids: string[] = [];
      ctx.log(`gateway: submitting ${total} jobs from 64 clients`);
      const t0 = performance.now();
      const submit = await closedLoop({
        concurrency: 64,
        totalOps: total,
        op: async (_c, i) => void ids.push((await submitJob(api, user, `burst ${i}`)).jobId),
      });
      const submitS = (performance.now() - t0) / 1000;
      await api.close();
      const memAfterSubmit = await usedMemory(gw.redis);
      const done = (await sim.stats()).completed;
      const backlog = total - done;
      const tail = await readJobs(gw.redis, gw.keys, ids.slice(-50));
      const queued = tail.find((r) => r.status === 'queued');
      const oneJobBytes = queued ? await bytesOfOneJob(gw, queued.id) : null;
      ctx.log(`submitted in ${submitS.toFixed(1)} s (${backlog} still to run); draining`);
      const progress: [number, number][] = [];
      const drained = await poll(
        async () => {
          const c = (await sim.stats()).completed;
          progress.push([(performance.now() - t0) / 1000, total - c]);
          return c >= total;
        },
        300_000,
        500,
      );
      const allS = (performance.now() - t0) / 1000;
      const samples = rss.stop();
      // Workers record the last jobs a moment after the simulator finished them.
      await poll(
        async () =>
          (await readJobs(gw!.redis, gw!.keys, ids.slice(-200))).every((r) => r.status === 'completed'),
        10_000,
      );
      const recs = await readJobs(gw.redis, gw.keys, ids);
      const memAfterAll = await usedMemory(gw.redis);
      const stats = await sim.stats();
      const statuses = countBy(recs, (r) => r.status);
      const retried = recs.filter((r) => r.attempt > 1).length;
      const acc = summarize(submit.latencies);
      const mb = samples.map((s) => s.mb);
      const rssStart = mb[0] ?? Number.NaN;
      const rssPeak = Math.max(...mb);
      const rssEnd = mb[mb.length - 1] ?? Number.NaN;
      const drainRate = total / allS;
      return {
        setup: {
          sim: SPEC,
          jobTimeMs: jobMs(SPEC),
          jobs: total,
          submitters: 64,
          workers: 2,
          LLM_CONCURRENCY: 12,
        },
        tables: [
          {
            title: `${total} requests as fast as possible`,
            columns: ['gateway', 'backend direct'],
            rows: [
              {
                metric: 'all completed after',
                unit: 's',
                values: { gateway: allS, 'backend direct': direct.seconds },
              },
              {
                metric: 'completed per second',
                unit: 'jobs/s',
                values: { gateway: drainRate, 'backend direct': total / direct.seconds },
              },
              {
                metric: 'submissions accepted per second',
                unit: '/s',
                values: { gateway: total / submitS, 'backend direct': null },
              },
              { metric: '202 latency p50', unit: 'ms', values: { gateway: acc.p50, 'backend direct': null } },
              { metric: '202 latency p99', unit: 'ms', values: { gateway: acc.p99, 'backend direct': null } },
              {
                metric: 'completed',
                unit: 'jobs',
                values: { gateway: statuses['completed'] ?? 0, 'backend direct': direct.ops },
              },
              {
                metric: 'failed / lost / other',
                unit: 'jobs',
                values: { gateway: total - (statuses['completed'] ?? 0), 'backend direct': direct.errors },
              },
              {
                metric: 'ran more than once (attempt > 1)',
                unit: 'jobs',
                values: { gateway: retried, 'backend direct': null },
              },
              {
                metric: 'backend requests',
                unit: '',
                values: { gateway: stats.requests, 'backend direct': total },
              },
            ],
          },
          {
            title: 'memory',
            columns: ['value'],
            rows: [
              { metric: 'api RSS at start', unit: 'MB', values: { value: rssStart } },
              { metric: 'api RSS peak', unit: 'MB', values: { value: rssPeak } },
              { metric: 'api RSS at the end', unit: 'MB', values: { value: rssEnd } },
              { metric: `backlog when submissions ended`, unit: 'jobs', values: { value: backlog } },
              {
                metric: 'Redis used_memory growth / jobs submitted (at submit end)',
                unit: 'bytes/job',
                values: { value: (memAfterSubmit - memBefore) / total },
              },
              {
                metric: 'keys of one queued job (MEMORY USAGE)',
                unit: 'bytes',
                values: { value: oneJobBytes },
              },
              {
                metric: 'Redis growth / job after all completed (retained records)',
                unit: 'bytes/job',
                values: { value: (memAfterAll - memBefore) / total },
              },
            ],
          },
        ],
        targets: [
          target('jobs completed', statuses['completed'] ?? 0, '==', total, 'jobs'),
          target('backend requests (none lost or duplicated)', stats.requests, '==', total, ''),
          target('api RSS growth, peak over start', rssPeak - rssStart, '<=', 100, 'MB'),
        ],
        notes: [
          `short replies so the run ends in reasonable time: ttft ${SPEC.ttftMs} ms, ${SPEC.replyTokens} tokens x ${SPEC.tokenDelayMs} ms.`,
          `job statuses ${JSON.stringify(statuses)}${drained ? '' : ' (did not drain before the timeout)'}; simulator: ${JSON.stringify(stats)}.`,
          'Redis used_memory is the whole shared server (other tests ran at the same time), so the growth per job is indicative; ' +
            'MEMORY USAGE of one queued job (job hash, event stream, BullMQ job hash, conversation keys) is exact for that job.',
          'The RSS target (growth <= 100 MB) is ours: the issue asks for "flat" without a number.',
        ],
        charts: [
          {
            file: 'burst-rss.svg',
            title: 'api RSS during the burst',
            svg: lineChart({
              title: `api resident memory while ${total} jobs are submitted and run (MB)`,
              xLabel: 'seconds since the first submission',
              yLabel: 'MB',
              series: [{ name: 'api RSS', points: samples.map((s) => [s.t, s.mb]) }],
            }),
          },
          {
            file: 'burst-backlog.svg',
            title: 'jobs not yet completed during the burst',
            svg: lineChart({
              title: 'Jobs not yet completed',
              xLabel: 'seconds since the first submission',
              yLabel: 'jobs',
              series: [{ name: 'gateway (submitted + waiting - completed)', points: progress }],
            }),
          },
        ],
        data: { rss: samples, progress, statuses, simStats: stats, memBefore, memAfterSubmit, memAfterAll },
      };
    } finally {
      await gw?.stop();
      await sim.close();
    }
  },
};
