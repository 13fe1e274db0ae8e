/**
 * Added latency of one request: submit -> SSE `reply` through the gateway, against the same chat
 * request sent straight to the zero-latency simulator (and through Portkey), one client, sequential,
 * the three interleaved so that drift of the machine hits all alike.
 */
import { type Gateway, startGateway } from '../support/gateway.js';
import { pool, submitAndFollow } from '../support/http.js';
import { type JobTimes, readJobs } from '../support/jobs.js';
import { isPortkey } from '../support/portkey.js';
import { type Row, target } from '../support/report.js';
import type { Scenario } from '../support/scenario.js';
import { directBody, type SimHandle, startSimProcess } from '../support/sim.js';
import { type Percentiles, summarize } from '../support/stats.js';
import { barChart } from '../support/svg.js';

const SIM = { ttftMs: 0, tokenDelayMs: 0, replyTokens: 24, capacity: 64 };

export const scenario: Scenario = {
  name: 'overhead',
  title: 'Added latency of one request (submit -> reply) vs the backend called directly',
  order: 10,
  async run(ctx) {
    const n = ctx.quick ? 100 : 400;
    const warm = ctx.quick ? 20 : 50;
    const sim: SimHandle = await startSimProcess(SIM);
    let gw: Gateway | undefined;
    try {
      gw = await startGateway({ sim, workers: 1 });
      const user = await gw.newUser();
      const pk = await ctx.portkey();
      const api = pool(gw.apiUrl, 1);
      const sse = pool(gw.apiUrl, 1);
      const direct = pool(sim.url, 1);
      const viaPk = isPortkey(pk) ? pool(pk.url, 1) : null;
      const post = async (p: ReturnType<typeof pool>, headers: Record<string, string>, i: number) => {
        const t0 = performance.now();
        const res = await p.request({
          method: 'POST',
          path: '/v1/chat/completions',
          headers: { ...headers, 'content-type': 'application/json' },
          body: directBody(`overhead ${i}`, false),
        });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`direct call: ${res.statusCode}`);
        return performance.now() - t0;
      };
      const times = {
        gateway: [] as number[],
        accepted: [] as number[],
        direct: [] as number[],
        portkey: [] as number[],
      };
      // Wall-clock marks (Date.now, the clock the services stamp job records with) for the breakdown.
      const marks: { jobId: string; sent: number; replied: number }[] = [];
      ctx.log(`${warm} warm-up + ${n} measured requests per path, interleaved`);
      for (let i = 0; i < warm + n; i++) {
        const t0 = performance.now();
        const sent = Date.now();
        const r = await submitAndFollow(api, sse, user, `overhead ${i}`);
        const replied = Date.now() - (performance.now() - r.replyAt);
        if (r.status !== 'completed') throw new Error(`job ${r.jobId} ended ${r.status}`);
        const d = await post(direct, {}, i);
        const k = viaPk && isPortkey(pk) ? await post(viaPk, pk.headers(sim.url), i) : Number.NaN;
        if (i < warm) continue;
        marks.push({ jobId: r.jobId, sent, replied });
        times.gateway.push(r.replyAt - t0);
        times.accepted.push(r.acceptedAt - t0);
        times.direct.push(d);
        if (!Number.isNaN(k)) times.portkey.push(k);
      }
      await Promise.all([api.close(), sse.close(), direct.close(), viaPk?.close()]);
      const g = summarize(times.gateway);
      const d = summarize(times.direct);
      const k = times.portkey.length ? summarize(times.portkey) : null;
      const a = summarize(times.accepted);
      const recs = new Map(
        (
          await readJobs(
            gw.redis,
            gw.keys,
            marks.map((m) => m.jobId),
          )
        ).map((j) => [j.id, j]),
      );
      const segment = (f: (m: (typeof marks)[number], j: JobTimes) => number) =>
        summarize(
          marks.flatMap((m) => {
            const j = recs.get(m.jobId);
            return j?.startedAt && j.finishedAt ? [f(m, j)] : [];
          }),
        );
      const parts = [
        [
          'client -> job record created (api: auth, limits, conversation)',
          segment((m, j) => j.createdAt - m.sent),
        ],
        [
          'record created -> worker started it (enqueue, BullMQ hand-over)',
          segment((_m, j) => j.startedAt! - j.createdAt),
        ],
        [
          'started -> finished (prompt, backend call, tokens, store)',
          segment((_m, j) => j.finishedAt! - j.startedAt!),
        ],
        [
          'finished -> reply event at the client (pub/sub, api, SSE)',
          segment((m, j) => m.replied - j.finishedAt!),
        ],
      ] as const;
      const row = (metric: keyof Percentiles, label: string): Row => ({
        metric: label,
        unit: 'ms',
        values: {
          gateway: g[metric],
          direct: d[metric],
          'gateway - direct': g[metric] - d[metric],
          portkey: k ? k[metric] : null,
          'portkey - direct': k ? k[metric] - d[metric] : null,
        },
      });
      const rows = [row('p50', 'p50'), row('p90', 'p90'), row('p99', 'p99'), row('mean', 'mean')];
      return {
        setup: {
          sim: SIM,
          workers: 1,
          requests: n,
          warmup: warm,
          auth: user.cookie ? 'guest cookie' : 'none',
        },
        tables: [
          {
            title: 'submit -> SSE reply (gateway) vs one chat completion (direct, portkey), ms',
            columns: ['gateway', 'direct', 'gateway - direct', 'portkey', 'portkey - direct'],
            rows,
          },
          {
            title: 'where the gateway time goes (job record times have 1 ms resolution)',
            columns: ['p50', 'mean', 'p99'],
            rows: [
              {
                metric: 'client -> 202 received',
                unit: 'ms',
                values: { p50: a.p50, mean: a.mean, p99: a.p99 },
              },
              ...parts.map(([metric, s]) => ({
                metric,
                unit: 'ms',
                values: { p50: s.p50, mean: s.mean, p99: s.p99 },
              })),
            ],
          },
        ],
        targets: [
          target('added latency p50', g.p50 - d.p50, '<=', 1.5, 'ms'),
          target('added latency p99', g.p99 - d.p99, '<=', 5, 'ms'),
        ],
        notes: [
          'gateway = POST /chat/jobs, then GET /chat/jobs/{id}/events opened right after the 202, until the `reply` event; ' +
            'direct = POST /v1/chat/completions (non-streaming) to the simulator with an equivalent system+user prompt.',
          ...(isPortkey(pk) ? [] : [`portkey not measured: ${pk.unavailable}`]),
        ],
        charts: [
          {
            file: 'overhead-latency.svg',
            title: 'Latency of one request, zero-latency backend',
            svg: barChart({
              title: 'One request, zero-latency backend: latency percentiles (ms)',
              categories: ['p50', 'p90', 'p99'],
              yLabel: 'ms',
              series: [
                { name: 'gateway (queue + SSE)', values: [g.p50, g.p90, g.p99] },
                { name: 'backend direct', values: [d.p50, d.p90, d.p99] },
                ...(k ? [{ name: 'portkey', values: [k.p50, k.p90, k.p99] }] : []),
              ],
            }),
          },
        ],
        data: { gateway: g, direct: d, portkey: k, accepted: a },
      };
    } finally {
      await gw?.stop();
      await sim.close();
    }
  },
};
