import fastifyCookie from '@fastify/cookie';
import fastifyCors from '@fastify/cors';
import fastifyHelmet from '@fastify/helmet';
import fastifyJwt from '@fastify/jwt';
import { GatewayError } from '@gateway/contracts';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../deps.js';
import { authenticate, hasBearer } from './authenticate.js';
import { canonicalOrigin, crossSiteReason } from './csrf.js';

/** API routes that answer without a user, besides those registered with `config: { public: true }`. */
const PUBLIC_API = new Set([
  '/health',
  '/ready',
  '/metrics',
  '/models',
  '/auth/login',
  '/auth/register',
  '/auth/guest',
  // Always clears the cookie; ends the session when the token is still good.
  '/auth/logout',
]);
/** The web client's files and the API docs: readable by anyone. */
const PUBLIC_READS = new Set(['/', '/*', '/index.html', '/favicon.ico', '/favicon.svg', '/docs', '/docs/*']);
const PUBLIC_READ_PREFIXES = ['/assets/', '/docs/'];

/** Everything needs a user unless it is public: a route someone forgets to mark fails closed. */
export function needsUser(req: FastifyRequest): boolean {
  if (req.method === 'OPTIONS' || req.routeOptions.config?.public === true) return false;
  const route = req.routeOptions.url;
  // No route: the not-found handler answers 404.
  if (route === undefined || PUBLIC_API.has(route)) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') return true;
  return !(PUBLIC_READS.has(route) || PUBLIC_READ_PREFIXES.some((p) => route.startsWith(p)));
}

/**
 * Sessions, CSRF, CORS and security headers for the whole app: registers the cookie and JWT plugins,
 * CORS for the configured origins only (with credentials), helmet with a same-origin CSP, and one
 * onRequest hook that refuses cross-site state changes and establishes `req.user` where one is needed.
 */
export async function installAuth(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { auth } = deps;
  const allowed = deps.config.http.corsOrigins.map((o) => canonicalOrigin(o) ?? o);
  app.decorateRequest('user', null);
  app.decorateRequest('auth', null);
  await app.register(fastifyCookie);
  await app.register(fastifyJwt, {
    secret: auth.jwtSecret,
    sign: { algorithm: 'HS256' },
    // Only our algorithm: `alg: none` and algorithm-confusion tokens fail verification.
    verify: { algorithms: ['HS256'] },
    // identity.ts owns `req.user`; the plugin's own copy of the payload is not used.
    decoratorName: 'jwtPayload',
  });
  await app.register(fastifyCors, {
    origin: allowed.length > 0 ? allowed : false,
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['content-type', 'authorization', 'idempotency-key', 'last-event-id', 'x-request-id'],
    exposedHeaders: ['location', 'retry-after', 'x-request-id', 'x-job-id'],
    maxAge: 600,
  });
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        scriptSrcAttr: ["'none'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        mediaSrc: ["'self'", 'blob:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    // Pages of the configured origins may play our audio; without them only our own pages may.
    crossOriginResourcePolicy: { policy: allowed.length > 0 ? 'cross-origin' : 'same-origin' },
  });
  app.addHook('onRequest', async (req, reply) => {
    const reason = crossSiteReason({
      method: req.method,
      origin: req.headers.origin,
      secFetchSite: header(req, 'sec-fetch-site'),
      bearer: hasBearer(req),
      host: req.host,
      allowed,
    });
    if (reason) throw new GatewayError('forbidden', reason);
    if (needsUser(req)) await authenticate(req, reply, auth);
  });
}

const header = (req: FastifyRequest, name: string) => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};
