/**
 * 1,000 concurrent SSE clients on one api process: token delivery delay, measured as
 * (client receive time - simulator emit time) per reply piece on one clock (the simulator runs in
 * this process and every piece it writes is timestamped, see support/emit-tap.ts), and the api's
 * memory. Run with the default token coalescing (EVENT_FLUSH_MS=25) and with EVENT_FLUSH_MS=0;
 * baseline: the same 1,000 streams read straight from the simulator.
 */
import { type Emission, installEmitTap, pieceDelays } from '../support/emit-tap.js';
import { type Gateway, startGateway } from '../support/gateway.js';
import { chunkContent, pool, readSse, submitJob } from '../support/http.js';
import { sampleRss } from '../support/procs.js';
import { target } from '../support/report.js';
import type { Scenario } from '../support/scenario.js';
import { directBody, type SimSpec, startSimInProcess } from '../support/sim.js';
import { type Percentiles, summarize } from '../support/stats.js';
import { barChart } from '../support/svg.js';

const SLOTS = 64;
const SPEC: SimSpec = { ttftMs: 100, tokenDelayMs: 20, replyTokens: 20, capacity: SLOTS };

interface Run {
  delays: Percentiles;
  /** Streams whose text arrived complete. */
  complete: number;
  maxOpen: number;
  seconds: number;
  rssIdle: number | null;
  rssPeak: number | null;
}

export const scenario: Scenario = {
  name: 'streaming',
  title: '1,000 concurrent SSE clients on one api: token delivery delay and api memory',
  order: 50,
  async run(ctx) {
    const clients = ctx.quick ? 200 : 1000;
    const sim = await startSimInProcess(SPEC);
    const tap = installEmitTap();
    const runs: Record<string, Run> = {};
    try {
      ctx.log(`backend direct: ${clients} streams`);
      runs['backend direct'] = await direct(sim.url, clients);
      for (const flush of ['25', '0']) {
        // Workers start once every client is connected, so all streams are open while tokens flow.
        const gw = await startGateway({
          sim,
          workers: 0,
          env: { LLM_CONCURRENCY: String(SLOTS), EVENT_FLUSH_MS: flush },
        });
        try {
          ctx.log(`gateway EVENT_FLUSH_MS=${flush}: ${clients} clients`);
          runs[`gateway flush ${flush} ms`] = await viaGateway(gw, clients, `f${flush}`);
        } finally {
          await gw.stop();
        }
      }
    } finally {
      tap.uninstall();
      await sim.close();
    }
    const names = Object.keys(runs);
    const row = (metric: string, unit: string, f: (r: Run) => number | null) => ({
      metric,
      unit,
      values: Object.fromEntries(names.map((n) => [n, f(runs[n]!)])),
    });
    const g25 = runs['gateway flush 25 ms']!;
    const g0 = runs['gateway flush 0 ms']!;
    return {
      setup: { clients, sim: SPEC, workers: 2, LLM_CONCURRENCY: SLOTS },
      tables: [
        {
          title: 'token delivery delay (simulator emit -> client receive) and api memory',
          columns: names,
          rows: [
            row('delay p50', 'ms', (r) => r.delays.p50),
            row('delay p90', 'ms', (r) => r.delays.p90),
            row('delay p99', 'ms', (r) => r.delays.p99),
            row('delay max', 'ms', (r) => r.delays.max),
            row('pieces measured', '', (r) => r.delays.n),
            row('streams complete', '', (r) => r.complete),
            row('most SSE streams open at once', '', (r) => r.maxOpen),
            row('first to last token written by the simulator', 's', (r) => r.seconds),
            row('api RSS before the clients', 'MB', (r) => r.rssIdle),
            row('api RSS peak', 'MB', (r) => r.rssPeak),
          ],
        },
      ],
      targets: [
        target('delay p99 (default EVENT_FLUSH_MS=25)', g25.delays.p99, '<=', 50, 'ms'),
        target('delay p99 (EVENT_FLUSH_MS=0)', g0.delays.p99, '<=', 50, 'ms'),
        target('api RSS peak', Math.max(g25.rssPeak ?? 0, g0.rssPeak ?? 0), '<=', 300, 'MB'),
      ],
      notes: [
        `${clients} clients each submit one job and open its SSE stream at once; ${SLOTS} generate at a time ` +
          `(simulator capacity = LLM_CONCURRENCY = ${SLOTS}, ttft ${SPEC.ttftMs} ms, ${SPEC.replyTokens} tokens x ${SPEC.tokenDelayMs} ms), ` +
          'the others wait in the queue with their stream open.',
        'The simulator runs inside the bench process: each content piece it writes is timestamped (performance.now) and ' +
          'matched to the client event that first carries it (by cumulative text length), so the delay covers worker, ' +
          'Redis, api and the client parse. The clients share that process, so their own event-loop lag counts too, ' +
          'alike for the direct baseline.',
        'EVENT_FLUSH_MS coalesces tokens in the worker (first token at once, then at most one write per 25 ms): it adds up to 25 ms by design.',
      ],
      charts: [
        {
          file: 'streaming-delay.svg',
          title: 'Token delivery delay with 1,000 SSE clients',
          svg: barChart({
            title: `Token delivery delay, ${clients} concurrent SSE clients (ms)`,
            categories: ['p50', 'p90', 'p99'],
            yLabel: 'ms',
            series: names.map((n) => ({
              name: n,
              values: [runs[n]!.delays.p50, runs[n]!.delays.p90, runs[n]!.delays.p99],
            })),
          }),
        },
      ],
      data: runs as unknown as Record<string, unknown>,
    };

    async function direct(url: string, n: number): Promise<Run> {
      const p = pool(url, n);
      let open = 0;
      let maxOpen = 0;
      const results = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const message = `stream direct ${i}`;
          const got: Emission[] = [];
          let text = '';
          open++;
          maxOpen = Math.max(maxOpen, open);
          await readSse(
            p,
            '/v1/chat/completions',
            {},
            (e) => {
              const c = chunkContent(e.data);
              if (c) {
                text += c;
                got.push({ at: e.at, upTo: text.length });
              }
              return undefined;
            },
            'POST',
            directBody(message, true),
          );
          open--;
          return { message, got, text };
        }),
      );
      await p.close();
      return finish(results, maxOpen, null, null);
    }

    async function viaGateway(gw: Gateway, n: number, tag: string): Promise<Run> {
      const user = await gw.newUser();
      const api = pool(gw.apiUrl, 64);
      const sse = pool(gw.apiUrl, n);
      const rss = sampleRss(gw.api.pid, 200);
      let open = 0;
      let maxOpen = 0;
      let connected = 0;
      let allConnected: () => void = () => {};
      const everyoneIn = new Promise<void>((resolve) => {
        allConnected = resolve;
      });
      const clients = Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const message = `stream ${tag} ${i}`;
          const { jobId } = await submitJob(api, user, message);
          const got: Emission[] = [];
          let text = '';
          let first = true;
          open++;
          maxOpen = Math.max(maxOpen, open);
          await readSse(sse, `/chat/jobs/${jobId}/events`, user.headers, (e) => {
            // The first event (status: queued) says the stream is open at the api.
            if (first) {
              first = false;
              if (++connected === n) allConnected();
            }
            if (e.event === 'token') {
              text += (JSON.parse(e.data) as { delta: string }).delta;
              got.push({ at: e.at, upTo: text.length });
            }
            return undefined;
          });
          open--;
          return { message, got, text };
        }),
      );
      await Promise.race([everyoneIn, clients]);
      ctx.log(`${maxOpen} streams open; starting 2 llm-workers`);
      await gw.startWorkers(2);
      const results = await clients;
      const samples = rss.stop();
      await Promise.all([api.close(), sse.close()]);
      const mb = samples.map((s) => s.mb);
      return finish(results, maxOpen, mb[0] ?? null, Math.max(...mb));
    }

    function finish(
      results: { message: string; got: Emission[]; text: string }[],
      maxOpen: number,
      rssIdle: number | null,
      rssPeak: number | null,
    ): Run {
      const delays: number[] = [];
      let complete = 0;
      let firstEmit = Number.POSITIVE_INFINITY;
      let lastEmit = Number.NEGATIVE_INFINITY;
      for (const r of results) {
        const emitted = tap.byMessage.get(r.message) ?? [];
        if (emitted.length) {
          firstEmit = Math.min(firstEmit, emitted[0]!.at);
          lastEmit = Math.max(lastEmit, emitted[emitted.length - 1]!.at);
        }
        const last = emitted[emitted.length - 1];
        if (last && r.text.length === last.upTo) complete++;
        delays.push(...pieceDelays(emitted, r.got));
      }
      return {
        delays: summarize(delays),
        complete,
        maxOpen,
        seconds: (lastEmit - firstEmit) / 1000,
        rssIdle,
        rssPeak,
      };
    }
  },
};
