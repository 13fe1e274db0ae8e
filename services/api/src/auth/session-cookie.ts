import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SessionUser } from '../identity.js';
import type { AuthServices } from './services.js';

export const SESSION_COOKIE = 'gw_session';

function cookieOptions(auth: AuthServices): CookieSerializeOptions {
  return {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    // Configured (COOKIE_SECURE, default on in production), never guessed from req.protocol: behind a
    // TLS-terminating proxy without TRUST_PROXY the api sees http and would send the cookie unprotected.
    secure: auth.settings.cookieSecure,
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
  /** When the session's login happened (seconds since the epoch): its absolute lifetime counts from it. */
  authTime: number,
): IssuedSession {
  const claims = auth.sessions.claims(user, sid, authTime);
  const token = req.server.jwt.sign(claims);
  reply.setCookie(SESSION_COOKIE, token, {
    ...cookieOptions(auth),
    maxAge: Math.max(0, claims.exp - claims.iat),
  });
  return { token, expiresAt: new Date(claims.exp * 1000) };
}

export function clearSessionCookie(_req: FastifyRequest, reply: FastifyReply, auth: AuthServices): void {
  reply.clearCookie(SESSION_COOKIE, cookieOptions(auth));
}
