import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiDeps } from './deps.js';
import { installErrorHandling } from './errors.js';
import { installIdentity } from './identity.js';
import { chatJobRoutes } from './routes/chat-jobs.js';
import { opsRoutes } from './routes/ops.js';

/** Builds the api from its dependencies, apart from `listen`, so tests can `inject` or listen on port 0. */
export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    bodyLimit: deps.config.http.bodyLimit,
    trustProxy: deps.config.http.trustProxy,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    // Prototype-poisoning keys are refused outright rather than silently stripped.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    maxParamLength: 200,
    routerOptions: { maxParamLength: 200 },
  }).withTypeProvider<ZodTypeProvider>();
  // JSON only: any other body type is a 415, not a confusing validation error.
  app.removeContentTypeParser(['text/plain']);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  installErrorHandling(app);
  installIdentity(app);
  await app.register(opsRoutes, { deps });
  await app.register(chatJobRoutes, { deps });
  return app;
}
