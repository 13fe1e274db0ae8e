import { randomUUID } from 'node:crypto';
import { parseConfig } from '@gateway/config';
import { createLogger } from '@gateway/logger';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../app.js';
import { type ApiDeps, createDeps } from '../deps.js';

const routes: { method: string; url: string; hidden: boolean }[] = [];
let app: FastifyInstance;
let deps: ApiDeps;

beforeAll(async () => {
  const config = parseConfig({
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: `t${randomUUID().slice(0, 8)}`,
    OLLAMA_BASE_URL: 'http://127.0.0.1:9',
    LOG_LEVEL: 'silent',
  });
  deps = createDeps(config, createLogger({ service: 'api', level: 'silent' }));
  app = await buildApp(deps, {
    onRoute: (r) => {
      for (const method of [r.method].flat()) {
        routes.push({
          method,
          url: r.url,
          hidden: Boolean((r.schema as { hide?: boolean } | undefined)?.hide),
        });
      }
    },
  });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await deps.close();
});

/** fastify `/chat/jobs/:id` -> OpenAPI `/chat/jobs/{id}` */
const toOpenApi = (url: string) => url.replace(/:([A-Za-z_]+)/g, '{$1}');

describe('the OpenAPI document', () => {
  it('is served at /docs/json and lists exactly the routes the api serves', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toMatch(/^3\./);
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
      ),
    );
    const served = new Set(
      routes
        .filter(
          (r) =>
            !r.hidden &&
            r.method !== 'HEAD' &&
            !r.url.startsWith('/docs') &&
            r.url !== '*' &&
            !r.url.includes('*'),
        )
        .map((r) => `${r.method} ${toOpenApi(r.url)}`),
    );
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);
    for (const key of [
      'POST /chat/jobs',
      'GET /chat/jobs/{id}',
      'GET /chat/jobs/{id}/events',
      'GET /ready',
    ]) {
      expect(documented.has(key)).toBe(true);
    }
  });

  it('names the cookie a login really sets as the session scheme', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      components: { securitySchemes: Record<string, { type: string; in?: string; name?: string }> };
    };
    const login = await app.inject({ method: 'POST', url: '/auth/guest', payload: {} });
    expect(login.statusCode).toBe(201);
    // The name from the Set-Cookie header the client receives, not from the constant the docs use.
    const setCookie = [login.headers['set-cookie'] ?? []].flat();
    const names = setCookie.map((c) => c.slice(0, c.indexOf('=')));
    expect(names).toHaveLength(1);
    expect(doc.components.securitySchemes.session).toEqual({ type: 'apiKey', in: 'cookie', name: names[0] });
  });

  it('serves Swagger UI at /docs', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/html/);
  });
});
