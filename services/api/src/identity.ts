import type {} from '@fastify/jwt';
import { GatewayError } from '@gateway/contracts';
import type { FastifyRequest } from 'fastify';
import type { SessionClaims } from './auth/sessions.js';

export interface SessionUser {
  id: string;
  username: string;
  guest: boolean;
}

/** How the request proved who it is: a session token (cookie or Bearer JWT), or an API key. */
export type RequestAuth =
  | {
      via: 'cookie' | 'bearer';
      sid: string;
      /** Seconds since the epoch, from the token. */
      iat: number;
      exp: number;
    }
  | { via: 'api_key'; keyId: string };

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every route that needs a user (see auth/plugin.ts `needsUser`). */
    user: SessionUser | null;
    auth: RequestAuth | null;
  }
  interface FastifyContextConfig {
    /** The route answers without a user (the auth hook leaves it alone). */
    public?: boolean;
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: SessionClaims;
    user: SessionUser | null;
  }
}

export const notLoggedIn = (message = 'log in first: POST /auth/login, /auth/register or /auth/guest') =>
  new GatewayError('unauthorized', message);

/** The logged-in user of this request; a 401 when there is none. */
export function userOf(req: FastifyRequest): SessionUser {
  if (!req.user) throw notLoggedIn();
  return req.user;
}

/** The id that owns what this request creates or reads. */
export function ownerOf(req: FastifyRequest): string {
  return userOf(req).id;
}

/**
 * A preHandler for routes that need a user. The auth hook already answers 401 on every non-public
 * route; this makes the requirement explicit (and safe) on a route that is registered as public.
 */
export async function requireUser(req: FastifyRequest): Promise<void> {
  userOf(req);
}
