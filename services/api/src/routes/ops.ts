import { isModelAllowed } from '@gateway/config';
import { GatewayError, ModelsView } from '@gateway/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isAdmin } from '../auth/admin.js';
import { optionalUser } from '../auth/authenticate.js';
import type { ApiDeps } from '../deps.js';

const Ready = z.object({
  status: z.literal('ready'),
  checks: z.record(z.string(), z.string()),
  workers_online: z.object({ llm: z.number().int(), tts: z.number().int() }),
});

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} did not answer in ${ms} ms`)), ms).unref(),
    ),
  ]);

export const opsRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['ops'],
        summary: 'Liveness: 200 while the process runs',
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['ops'],
        summary:
          "Readiness: Redis, and every server's own health check (200 while each model has a healthy server)",
        response: { 200: Ready },
      },
    },
    async (req) => {
      const checks: Record<string, string> = {};
      const failed: string[] = [];
      const probe = async (name: string, fn: () => Promise<unknown>) => {
        try {
          await withTimeout(fn(), 2_000, name);
          checks[name] = 'ok';
        } catch (err) {
          checks[name] = err instanceof Error ? err.message : String(err);
          failed.push(name);
        }
      };
      const [, servers] = await Promise.all([
        probe('redis', () => deps.redis.ping()),
        deps.backends.health(),
      ]);
      // The pool of one keeps its classic check name; a pool names each server.
      for (const s of servers) checks[deps.pool.single ? 'backend' : `backend:${s.name}`] = s.check;
      // Ready while every model the pool serves has a healthy server: one server down is failover's job.
      const uncovered = deps.pool.single ? [] : deps.backends.uncovered(servers);
      if (deps.pool.single ? !servers[0]?.ok : uncovered.length > 0 || servers.every((s) => !s.ok)) {
        failed.push(
          ...servers.filter((s) => !s.ok).map((s) => (deps.pool.single ? 'backend' : `backend:${s.name}`)),
        );
      }
      const [llm, tts] = await Promise.all([
        deps.llmWorkers.online().catch(() => 0),
        deps.ttsWorkers.online().catch(() => 0),
      ]);
      if (failed.length > 0) {
        const waiting = await deps.pool.depth().catch(() => null);
        req.log.warn({ checks, failed, jobsWaiting: waiting }, 'not ready');
        const backendDown = failed.some((f) => f.startsWith('backend'));
        // The queue depth is public anyway (/metrics).
        const note =
          (uncovered.length ? `; no healthy server serves ${uncovered.join(', ')}` : '') +
          (backendDown && waiting ? `; ${waiting} jobs are waiting for it` : '');
        // Strangers learn which dependency fails, never its address or error text; admins get it all.
        if (!(await isAdmin(deps.auth, await optionalUser(req, deps.auth)).catch(() => false))) {
          throw new GatewayError('not_ready', `not ready: ${failed.join(', ')}${note}`, {
            retryAfter: 5,
            details: { failed },
          });
        }
        throw new GatewayError(
          'not_ready',
          `not ready: ${failed.map((f) => `${f} (${checks[f]})`).join(', ')}${note}`,
          {
            retryAfter: 5,
            details: { checks, failed, jobs_waiting: waiting, workers_online: { llm, tts } },
          },
        );
      }
      return { status: 'ready' as const, checks, workers_online: { llm, tts } };
    },
  );

  let cache: { at: number; view: ModelsView } | null = null;
  app.get(
    '/models',
    { schema: { tags: ['chat'], summary: 'Models the backend serves', response: { 200: ModelsView } } },
    async () => {
      if (!deps.llm) throw new GatewayError('backend_unavailable', 'no backend URL configured');
      if (cache && Date.now() - cache.at < 10_000) return cache.view;
      // Every server's models, each once (in a pool, `details.servers` says which serve it), and only
      // those a request may name (LLM_MODELS).
      const models = (await deps.backends.listModels()).filter((m) =>
        isModelAllowed(deps.config.llm.models, m.id),
      );
      cache = { at: Date.now(), view: { backend: deps.config.llm.service, models } };
      return cache.view;
    },
  );
};
