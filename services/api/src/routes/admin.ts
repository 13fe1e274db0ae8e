import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { GatewayError } from '@gateway/contracts';
import { FairShare } from '@gateway/queue';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isAdmin } from '../auth/admin.js';
import type { ApiDeps } from '../deps.js';
import { sendError, toErrorView } from '../errors.js';
import { notLoggedIn } from '../identity.js';

const BASE = '/admin/queues';

/**
 * Admins are accounts the operator made admins (auth/admin.ts: the account, not the token, says so);
 * guests never are. Anyone else gets a closed 403, answered here (bull-board installs its own error
 * handler, which would turn a thrown error into a 500).
 */
function requireAdmin(deps: ApiDeps) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const user = req.user;
    if (!user) return sendError(reply, toErrorView(notLoggedIn()));
    if (!(await isAdmin(deps.auth, user))) {
      return sendError(reply, toErrorView(new GatewayError('forbidden', 'admins only')));
    }
  };
}

/** The BullMQ dashboard (bull-board) for the chat and speech queues. */
const queueDashboard: FastifyPluginAsync<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.addHook('preHandler', requireAdmin(deps));
  // bull-board's page needs inline scripts and styles: a looser policy for these pages only.
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header(
      'content-security-policy',
      "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline' https:; img-src 'self' data:; font-src 'self' data: https:",
    );
    return reply.statusCode >= 400 ? withErrorCode(reply.statusCode, payload) : payload;
  });
  const adapter = new FastifyAdapter();
  adapter.setBasePath(BASE);
  createBullBoard({
    // One chat queue per GPU server of the pool.
    queues: [
      ...deps.pool.names.map((s) => new BullMQAdapter(deps.pool.queue(s))),
      new BullMQAdapter(deps.ttsQueue),
    ],
    serverAdapter: adapter,
  });
  // The dashboard's routes live in bull-board's own context: errors there (a 401 from the auth hook)
  // must still answer in our shape and status, not as bull-board's 500.
  adapter.setErrorHandler((err) => {
    const view = toErrorView(err);
    // bull-board's type lists a few statuses only; any HTTP status works at run time.
    const status = view.status as 200;
    return { status, body: { error: { code: view.code, message: view.message } } };
  });
  await app.register(adapter.registerPlugin(), { prefix: BASE });
};

const CODE_OF_STATUS: Record<number, string> = {
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
};

/**
 * bull-board answers its own errors as `{"error": {"key": "ERRORS.…"}}` (its page translates the key):
 * the code and message of our error shape are added beside the key, so the page keeps working.
 */
function withErrorCode(status: number, payload: unknown): unknown {
  if (typeof payload !== 'string') return payload;
  let body: { error?: unknown; message?: unknown };
  try {
    body = JSON.parse(payload) as typeof body;
  } catch {
    return payload;
  }
  const error = body.error;
  if (typeof error !== 'object' || error === null || typeof (error as { code?: unknown }).code === 'string')
    return payload;
  const { key, message } = error as { key?: unknown; message?: unknown };
  const text = [message, body.message, key].find((v) => typeof v === 'string') ?? 'request failed';
  const code = status >= 500 ? 'internal_error' : (CODE_OF_STATUS[status] ?? 'invalid_input');
  return JSON.stringify({ ...body, error: { ...error, code, message: text } });
}

const WeightBody = z.object({ weight: z.number().gt(0).max(100) }).strict();

export const adminRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  await app.register(queueDashboard, { deps });
  const fair = new FairShare(deps.redis, deps.keys, true);
  app.put(
    '/admin/users/:id/weight',
    {
      preHandler: requireAdmin(deps),
      schema: {
        tags: ['ops'],
        summary: "Set a user's fair-share weight (2 = about twice the GPU share of a weight-1 user)",
        params: z.object({ id: z.string().min(1).max(64) }),
        body: WeightBody,
        response: { 200: z.object({ user_id: z.string(), weight: z.number() }) },
      },
    },
    async (req) => {
      await fair.setWeight(req.params.id, req.body.weight);
      return { user_id: req.params.id, weight: req.body.weight };
    },
  );
};
