import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { SESSION_COOKIE } from '../auth/session-cookie.js';

/**
 * The OpenAPI document, generated from the zod schemas of the routes themselves (so it cannot drift), at
 * `/docs/json`, with Swagger UI at `/docs`. Must be installed before the routes it describes.
 */
export async function installDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Role-play chat gateway',
        description:
          'Queue-driven LLM chat gateway: submit chat turns, follow them by polling or Server-Sent Events, ' +
          'hear them spoken. Errors are `{"error": {"code", "message", "details"}}` (OpenAI shape under /v1).',
        version: '0.1.0',
      },
      tags: [
        { name: 'chat', description: 'Chat jobs, events, conversations, models' },
        { name: 'speech', description: 'Audio of replies' },
        { name: 'auth', description: 'Sessions and API keys' },
        { name: 'characters', description: 'Stored characters' },
        { name: 'openai', description: 'OpenAI-compatible facade' },
        { name: 'ops', description: 'Health, readiness, metrics' },
      ],
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  // @fastify/swagger builds the document (zod -> JSON Schema, then YAML) on its first request and caches
  // it: some 150 ms of blocked event loop on a quiet machine, paid by whoever asks first. Built before
  // the api listens instead, once every route is registered.
  app.addHook('onReady', async function buildDocs() {
    this.swagger();
    this.swagger({ yaml: true });
  });
}
