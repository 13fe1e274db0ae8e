import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A JSON Schema as the OpenAPI document gives it (only what the generators read). */
export interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  /** OpenAPI 3.0: `minimum` itself is excluded. */
  exclusiveMinimum?: boolean;
  minItems?: number;
  maxItems?: number;
  nullable?: boolean;
}

export interface RouteSpec {
  method: string;
  /** Fastify form: `/chat/jobs/:id`, `/assets/*`. */
  path: string;
  body?: Schema;
  query: Record<string, Schema>;
  headers: Record<string, Schema>;
  /** Where the route was found. */
  source: 'openapi' | 'source' | 'plugin';
}

interface OpenApiOperation {
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  parameters?: { in: string; name: string; schema?: Schema }[];
}

interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'];

/** Every documented route, with its body, query and header schemas. */
export function routesFromOpenApi(doc: OpenApiDocument): RouteSpec[] {
  const out: RouteSpec[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!METHODS.includes(method)) continue;
      const query: Record<string, Schema> = {};
      const headers: Record<string, Schema> = {};
      for (const p of op.parameters ?? []) {
        if (p.in === 'query') query[p.name] = p.schema ?? {};
        if (p.in === 'header') headers[p.name] = p.schema ?? {};
      }
      const body = op.requestBody?.content?.['application/json']?.schema;
      out.push({
        method: method.toUpperCase(),
        path: path.replaceAll(/\{(\w+)\}/g, ':$1'),
        query,
        headers,
        source: 'openapi',
        ...(body ? { body } : {}),
      });
    }
  }
  return out;
}

/**
 * Routes registered in the api's route files that the OpenAPI document does not show (hidden ones are
 * still reachable): read from the source so that a route added later is fuzzed without editing this
 * test. A file's routes may sit under a prefix given where it is registered; a route whose path ends a
 * documented one is taken to be that one.
 */
export function routesFromSource(routesDir: string, documented: RouteSpec[]): RouteSpec[] {
  const out: RouteSpec[] = [];
  const call = /\bapp\.(get|post|put|patch|delete)\(\s*['`]([^'`]+)['`]/g;
  const known = documented.map((r) => `${r.method} ${r.path}`);
  for (const file of readdirSync(routesDir)) {
    if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
    const text = readFileSync(join(routesDir, file), 'utf8');
    for (const m of text.matchAll(call)) {
      const method = m[1]!.toUpperCase();
      const path = m[2]!;
      if (known.some((k) => k.startsWith(`${method} `) && k.endsWith(path))) continue;
      out.push({ method, path, query: {}, headers: {}, source: 'source' });
    }
  }
  return out;
}

/** Routes that plugins add (static files, Swagger UI, bull-board), which no route file names. */
export const PLUGIN_ROUTES: RouteSpec[] = [
  ['GET', '/assets/:file'],
  ['GET', '/docs'],
  ['GET', '/docs/json'],
  ['GET', '/docs/yaml'],
  ['GET', '/docs/static/:file'],
  ['GET', '/admin/queues'],
  ['GET', '/admin/queues/api/queues'],
  ['GET', '/admin/queues/api/redis/stats'],
  ['GET', '/admin/queues/api/queues/:queueName/:jobId'],
  ['GET', '/admin/queues/api/queues/:queueName/:jobId/logs'],
  ['PUT', '/admin/queues/api/queues/:queueName/pause'],
  ['PUT', '/admin/queues/api/queues/:queueName/:jobId/retry'],
  ['DELETE', '/admin/queues/api/queues/:queueName/obliterate'],
  ['GET', '/admin/queues/static/:file'],
].map(([method, path]) => ({ method: method!, path: path!, query: {}, headers: {}, source: 'plugin' }));

/** One spec per method and path; the OpenAPI one (with schemas) wins. */
export function mergeRoutes(...lists: RouteSpec[][]): RouteSpec[] {
  const byKey = new Map<string, RouteSpec>();
  for (const list of lists) {
    for (const r of list) {
      const key = `${r.method} ${r.path}`;
      if (!byKey.has(key)) byKey.set(key, r);
    }
  }
  return [...byKey.values()];
}
