import { ApiKeyCreate, ApiKeyCreated, ApiKeyList, GatewayError } from '@gateway/contracts';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { type SessionUser, userOf } from '../identity.js';

const KeyParams = z.object({ id: z.string().regex(/^key_[A-Za-z0-9_-]{1,32}$/, 'not an API key id') });

/**
 * Keys are managed with a logged-in session only: a leaked key must not be able to mint more keys or hide
 * itself. A guest's identity ends with its session, so keys are for registered accounts.
 */
function keyManager(req: FastifyRequest): SessionUser {
  const user = userOf(req);
  if (req.auth?.via === 'api_key') {
    throw new GatewayError('forbidden', 'API keys are managed with a logged-in session, not with an API key');
  }
  if (user.guest) {
    throw new GatewayError(
      'forbidden',
      'guests cannot have API keys: register an account (POST /auth/register), then create one',
    );
  }
  return user;
}

/** `POST/GET/DELETE /auth/api-keys`: keys for programs (`Authorization: Bearer gwk_...`), shown once. */
export const apiKeyRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const store = deps.auth.apiKeys;

  app.post(
    '/auth/api-keys',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create an API key; the answer is the only time the key is shown',
        body: ApiKeyCreate,
        response: { 201: ApiKeyCreated },
      },
    },
    async (req, reply) => {
      const created = await store.create(keyManager(req), req.body.name);
      req.log.info({ keyId: created.id }, 'api key created');
      return reply.code(201).header('cache-control', 'no-store').send(created);
    },
  );

  app.get(
    '/auth/api-keys',
    {
      schema: {
        tags: ['auth'],
        summary: 'Your API keys (names and dates; never the keys)',
        response: { 200: ApiKeyList },
      },
    },
    async (req) => ({ api_keys: await store.list(keyManager(req).id) }),
  );

  app.delete(
    '/auth/api-keys/:id',
    {
      schema: {
        tags: ['auth'],
        summary: 'Revoke an API key (it stops working at once)',
        params: KeyParams,
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      if (!(await store.revoke(keyManager(req).id, req.params.id))) {
        throw new GatewayError('not_found', 'API key not found');
      }
      req.log.info({ keyId: req.params.id }, 'api key revoked');
      return reply.code(204).send(null);
    },
  );
};
