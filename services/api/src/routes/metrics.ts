import { setImmediate } from 'node:timers/promises';
import { createRegistry } from '@gateway/metrics';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { Gauge, Histogram, Registry } from 'prom-client';
import type { ApiDeps } from '../deps.js';
import { activeStreams } from './chat-jobs.js';

const STATES = ['wait', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;

/**
 * `GET /metrics` in Prometheus text: HTTP request durations per route, queue depth by state, SSE clients,
 * and workers online. Queue figures are read from Redis at scrape time, so every api replica reports the
 * same global values (aggregate them with max, not sum).
 */
const plugin: FastifyPluginAsync<{ deps: ApiDeps }> = async (app, { deps }) => {
  const registry = createRegistry('api');
  // The HTTP histogram is the metric that grows: 15 lines for every route x method x status seen (over
  // 10,000 lines after the fuzz). prom-client merges a registry's default labels into each line as it
  // renders, most of a scrape's cost; in a registry of its own, with `service` as an ordinary label, the
  // same series render about 4x faster.
  const httpRegistry = new Registry();
  const http = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['method', 'route', 'status_code', 'service'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [httpRegistry],
  });
  new Gauge({
    name: 'gateway_queue_jobs',
    help: 'Jobs in each queue by state',
    // `backend`: the GPU server a chat queue belongs to (one queue per server).
    labelNames: ['queue', 'state', 'backend'],
    registers: [registry],
    async collect() {
      const queues = [
        ...deps.pool.names.map((backend) => ({ name: 'chat', queue: deps.pool.queue(backend), backend })),
        { name: 'tts', queue: deps.ttsQueue, backend: null },
      ];
      for (const { name, queue, backend } of queues) {
        const counts = await queue.getJobCounts(...STATES).catch(() => null);
        for (const state of STATES) {
          if (counts) this.set({ queue: name, state, ...(backend ? { backend } : {}) }, counts[state] ?? 0);
        }
      }
    },
  });
  new Gauge({
    name: 'gateway_sse_clients',
    help: 'Open Server-Sent Events streams on this api process',
    registers: [registry],
    collect() {
      this.set(activeStreams.size);
    },
  });
  new Gauge({
    name: 'gateway_workers_online',
    help: 'Worker processes with a fresh heartbeat',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const [llm, tts] = await Promise.all([
        deps.llmWorkers.online().catch(() => 0),
        deps.ttsWorkers.online().catch(() => 0),
      ]);
      this.set({ kind: 'llm' }, llm);
      this.set({ kind: 'tts' }, tts);
    },
  });
  const limit = new Gauge({
    name: 'gateway_backend_concurrency_limit',
    help: 'The global limit of requests in flight at each backend (its concurrency over all workers)',
    labelNames: ['backend'],
    registers: [registry],
  });
  for (const s of deps.config.llm.pool) limit.set({ backend: s.name }, s.concurrency);

  app.addHook('onResponse', async (req, reply) => {
    // Unmatched routes share one label, so random URLs cannot blow up the series count.
    const route = req.routeOptions.url ?? 'unmatched';
    http.observe(
      { method: req.method, route, status_code: String(reply.statusCode), service: 'api' },
      reply.elapsedTime / 1000,
    );
  });

  app.get(
    '/metrics',
    { schema: { tags: ['ops'], summary: 'Prometheus metrics', hide: true } },
    async (_req, reply) => {
      reply.header('content-type', registry.contentType);
      return renderInTurns([registry, httpRegistry]);
    },
  );
};

/**
 * The Prometheus text of the registries, as `registry.metrics()` writes it, but one metric per turn of
 * the event loop: prom-client renders a metric synchronously, and all of them in one go held every
 * request behind a scrape (the fuzz saw the api's event loop stall for 150-190 ms on a busy machine).
 */
async function renderInTurns(registries: Registry[]): Promise<string> {
  const parts: string[] = [];
  for (const r of registries) {
    for (const m of r.getMetricsAsArray()) {
      parts.push(await r.getSingleMetricAsString(m.name));
      await setImmediate();
    }
  }
  return `${parts.join('\n\n')}\n`;
}

export const metricsRoutes = fp(plugin, { name: 'metrics' });
