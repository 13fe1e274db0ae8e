import fastifyRateLimit from '@fastify/rate-limit';
import { GatewayError } from '@gateway/contracts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiDeps } from './deps.js';

type Check = ReturnType<FastifyInstance['createRateLimit']>;

/**
 * One @fastify/rate-limit instance on its Redis store, in a scope of its own so that two of them (per
 * user, per IP) can count the same request under different keys. Fixed windows counted in Redis: every
 * api instance shares the counts.
 */
async function limiter(
  app: FastifyInstance,
  deps: ApiDeps,
  scope: string,
  max: number,
  keyGenerator?: (req: FastifyRequest) => string,
): Promise<Check> {
  let check: Check | undefined;
  await app.register(async (child) => {
    await child.register(fastifyRateLimit, {
      global: false,
      redis: deps.redis,
      nameSpace: deps.keys.rateLimit(scope),
      max,
      timeWindow: deps.config.limits.submitWindowSeconds * 1000,
      ...(keyGenerator ? { keyGenerator } : {}),
    });
    check = child.createRateLimit();
  });
  if (!check) throw new Error('rate limiter did not register');
  return check;
}

/**
 * The onRequest hook for routes that submit chat work (POST /chat/jobs, POST /v1/chat/completions):
 * SUBMIT_RATE_PER_USER per user and SUBMIT_RATE_PER_IP per client IP in each SUBMIT_RATE_WINDOW_SECONDS,
 * shared by every such route. Over either limit: 429 `rate_limited` with Retry-After (the window's
 * rest). It runs before the body is read, so a refused flood costs no parsing.
 */
export async function submissionRateLimit(
  app: FastifyInstance,
  deps: ApiDeps,
): Promise<(req: FastifyRequest, reply: FastifyReply) => Promise<void>> {
  const { limits } = deps.config;
  // The auth hook ran already; a request without a user is refused there, the IP is the fallback.
  const perUser = await limiter(
    app,
    deps,
    'submit-user',
    limits.submitPerUser,
    (req) => req.user?.id ?? req.ip,
  );
  const perIp = await limiter(app, deps, 'submit-ip', limits.submitPerIp);
  return async (req, reply) => {
    const [user, ip] = await Promise.all([perUser(req), perIp(req)]);
    if (!user.isAllowed) {
      reply
        .header('x-ratelimit-limit', String(user.max))
        .header('x-ratelimit-remaining', String(user.remaining))
        .header('x-ratelimit-reset', String(user.ttlInSeconds));
    }
    for (const [scope, r] of [
      ['user', user],
      ['ip', ip],
    ] as const) {
      if (r.isAllowed || !r.isExceeded) continue;
      const retryAfter = Math.max(1, r.ttlInSeconds);
      const who = scope === 'user' ? 'you' : 'your address';
      throw new GatewayError(
        'rate_limited',
        `too many chat submissions from ${who} (${r.max} per ${limits.submitWindowSeconds} s); try again in ${retryAfter} s`,
        {
          retryAfter,
          details: { scope, limit: r.max, window_seconds: limits.submitWindowSeconds },
        },
      );
    }
  };
}
