import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SessionUser } from '../identity.js';
import type { AuthServices } from './services.js';

export const SESSION_COOKIE = 'gw_session';

function cookieOptions(req: FastifyRequest, auth: AuthServices): CookieSerializeOptions {
  return {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    // With TRUST_PROXY, req.protocol is the client's scheme at the TLS-terminating proxy.
    secure: auth.settings.cookieSecure ?? req.protocol === 'https',
  };
}

export interface IssuedSession {
  token: string;
  expiresAt: Date;
}

/** Signs a token for the session and sets it as the session cookie. */
export function issueSession(
  req: FastifyRequest,
  reply: FastifyReply,
  auth: AuthServices,
  user: SessionUser,
  sid: string,
): IssuedSession {
  const claims = auth.sessions.claims(user, sid);
  const token = req.server.jwt.sign(claims);
  reply.setCookie(SESSION_COOKIE, token, { ...cookieOptions(req, auth), maxAge: auth.sessions.ttlSeconds });
  return { token, expiresAt: new Date(claims.exp * 1000) };
}

export function clearSessionCookie(req: FastifyRequest, reply: FastifyReply, auth: AuthServices): void {
  reply.clearCookie(SESSION_COOKIE, cookieOptions(req, auth));
}
