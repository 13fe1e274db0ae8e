import { createHash } from 'node:crypto';
import {
  Credentials,
  GatewayError,
  isGatewayError,
  Registration,
  SessionView,
  UserView,
} from '@gateway/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isReservedName } from '../auth/admin.js';
import { verifySession } from '../auth/authenticate.js';
import { clearSessionCookie, issueSession } from '../auth/session-cookie.js';
import { normalizeUsername } from '../auth/users.js';
import type { ApiDeps } from '../deps.js';
import { type SessionUser, userOf } from '../identity.js';
import { guestRateLimit } from '../limits.js';

// No body at all is the usual call (fastify then validates `null`).
const GuestBody = z.object({ token: z.boolean().optional() }).strict().nullish();

// Any input may be a login name; a hash keeps braces and odd bytes out of Redis keys and their hash tags.
const limiterSubject = (username: string) =>
  createHash('sha256').update(normalizeUsername(username)).digest('hex').slice(0, 32);

export const authRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { auth } = deps;
  const limitGuests = await guestRateLimit(app, deps);

  const startSession = async (
    req: FastifyRequest,
    reply: FastifyReply,
    user: SessionUser,
    withToken: boolean | undefined,
  ): Promise<SessionView> => {
    const sid = await auth.sessions.create(user.id);
    const issued = issueSession(req, reply, auth, user, sid, Math.floor(Date.now() / 1000));
    req.log.info({ userId: user.id, guest: user.guest }, 'session started');
    const view: SessionView = { user: { id: user.id, username: user.username, guest: user.guest } };
    return withToken ? { ...view, token: issued.token, expires_at: issued.expiresAt.toISOString() } : view;
  };

  app.post(
    '/auth/register',
    {
      config: { public: true },
      schema: {
        tags: ['auth'],
        summary: 'Create an account and log in (sets the session cookie)',
        body: Registration,
        response: { 201: SessionView },
      },
    },
    async (req, reply) => {
      if (!auth.settings.registration) {
        throw new GatewayError('forbidden', 'registration is switched off here (AUTH_REGISTRATION=false)');
      }
      if (isReservedName(auth, req.body.username)) {
        throw new GatewayError(
          'forbidden',
          'that username is reserved for an administrator; choose another',
          { details: [{ field: 'body.username' }] },
        );
      }
      await auth.loginLimiter.hit({ ip: req.ip });
      const user = await auth.users.register(req.body.username, req.body.password);
      return reply.code(201).send(await startSession(req, reply, user, req.body.token));
    },
  );

  app.post(
    '/auth/login',
    {
      config: { public: true },
      schema: {
        tags: ['auth'],
        summary: 'Log in (sets the session cookie)',
        body: Credentials,
        response: { 200: SessionView },
      },
    },
    async (req, reply) => {
      const subject = limiterSubject(req.body.username);
      await auth.loginLimiter.hit({ ip: req.ip, username: subject });
      const user = await auth.users.checkPassword(req.body.username, req.body.password);
      if (!user) {
        req.log.info('login refused');
        throw new GatewayError('unauthorized', 'wrong username or password');
      }
      await auth.loginLimiter.succeeded({ ip: req.ip, username: subject });
      return reply.send(await startSession(req, reply, user, req.body.token));
    },
  );

  app.post(
    '/auth/guest',
    {
      config: { public: true },
      // GUEST_RATE_PER_IP per address and GUEST_RATE_GLOBAL in all, per GUEST_RATE_WINDOW_SECONDS.
      onRequest: limitGuests,
      schema: {
        tags: ['auth'],
        summary: 'Log in as a new guest: no password, gone when the session ends',
        body: GuestBody,
        response: { 201: SessionView },
      },
    },
    async (req, reply) => {
      if (!auth.settings.guests)
        throw new GatewayError('forbidden', 'guest login is switched off here (AUTH_GUESTS=false)');
      const user = await auth.users.createGuest(auth.sessions.ttlSeconds);
      return reply.code(201).send(await startSession(req, reply, user, req.body?.token));
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { public: true },
      schema: {
        tags: ['auth'],
        summary: 'End the session and clear its cookie',
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      // A token that is already bad still gets its cookie cleared; Redis trouble is a 503, not a fake success.
      const session = await verifySession(req, auth).catch((err: unknown) => {
        if (isGatewayError(err) && err.code === 'unauthorized') return null;
        throw err;
      });
      if (session) {
        await auth.sessions.end(session.claims.sid);
        if (session.claims.guest) await auth.users.removeGuest(session.claims.sub);
        req.log.info({ userId: session.claims.sub }, 'session ended');
      }
      clearSessionCookie(req, reply, auth);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/auth/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'The logged-in user',
        response: { 200: z.object({ user: UserView }) },
      },
    },
    async (req) => ({ user: userOf(req) }),
  );
};
