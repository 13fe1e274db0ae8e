import { randomUUID } from 'node:crypto';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  LogController,
  type RouteOptions,
} from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { installAuth } from './auth/plugin.js';
import type { ApiDeps } from './deps.js';
import { clientErrorHandler, frameworkErrors, installErrorHandling } from './errors.js';
import { adminRoutes } from './routes/admin.js';
import { apiKeyRoutes } from './routes/api-keys.js';
import { authRoutes } from './routes/auth.js';
import { characterRoutes } from './routes/characters.js';
import { chatJobRoutes } from './routes/chat-jobs.js';
import { conversationRoutes } from './routes/conversations.js';
import { installDocs } from './routes/docs.js';
import { metricsRoutes } from './routes/metrics.js';
import { openaiRoutes } from './routes/openai.js';
import { opsRoutes } from './routes/ops.js';
import { speechRoutes } from './routes/speech.js';
import { webRoutes } from './routes/web.js';

/**
 * TRUST_PROXY as Fastify's trustProxy: false, the proxies' addresses/CIDRs (proxy-addr checks the peer), or
 * a hop count. Fastify itself refuses a bare number (it cannot check the peer), so a count is a function
 * trusting the nearest `n` hops: right when clients reach the api only through that many proxies.
 */
function trustProxyOption(
  t: false | number | string[],
): false | string[] | ((addr: string, i: number) => boolean) {
  if (typeof t === 'number') return t > 0 ? (_addr, i) => i < t : false;
  return t;
}

/** Builds the api from its dependencies, apart from `listen`, so tests can `inject` or listen on port 0. */
export interface BuildOptions {
  /** Sees every route as it is added (the docs test compares them with the OpenAPI document). */
  onRoute?: (route: RouteOptions) => void;
}

export async function buildApp(deps: ApiDeps, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    bodyLimit: deps.config.http.bodyLimit,
    trustProxy: trustProxyOption(deps.config.http.trustProxy),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    // Prototype-poisoning keys are refused outright rather than silently stripped.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    routerOptions: { maxParamLength: 200 },
    // One line per request (below, on response) instead of Fastify's two: half the log volume.
    // (Through logController: the top-level option is deprecated, FSTDEP023.)
    logController: new LogController({ disableRequestLogging: true }),
    // Requests that never reach a route still answer in our error shape.
    clientErrorHandler,
    frameworkErrors,
  }).withTypeProvider<ZodTypeProvider>();
  // JSON only: any other body type is a 415, not a confusing validation error.
  app.removeContentTypeParser(['text/plain']);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  app.addHook('onResponse', async (req, reply) => {
    // Answered before its body was read to the end (415, 413, a refusal in a hook): drop the rest, or a
    // half-read body holds the keep-alive connection and the client's next request on it.
    if (!req.raw.complete) req.raw.resume();
    req.log.info(
      {
        method: req.method,
        url: req.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  });
  if (opts.onRoute) app.addHook('onRoute', opts.onRoute);
  installErrorHandling(app);
  await installDocs(app);
  await installAuth(app, deps);
  await app.register(metricsRoutes, { deps });
  await app.register(opsRoutes, { deps });
  await app.register(chatJobRoutes, { deps });
  await app.register(conversationRoutes, { deps });
  await app.register(speechRoutes, { deps });
  await app.register(authRoutes, { deps });
  await app.register(apiKeyRoutes, { deps });
  await app.register(characterRoutes, { deps });
  await app.register(adminRoutes, { deps });
  await app.register(webRoutes, { deps });
  await app.register(openaiRoutes, { deps, prefix: '/v1' });
  return app;
}
