import { isGatewayError } from '@gateway/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { notLoggedIn, type SessionUser } from '../identity.js';
import { looksLikeApiKey } from './api-keys.js';
import type { AuthServices } from './services.js';
import { clearSessionCookie, issueSession, SESSION_COOKIE } from './session-cookie.js';
import { SessionClaims } from './sessions.js';

export interface PresentedToken {
  token: string;
  via: 'cookie' | 'bearer';
}

const BEARER = /^Bearer[ \t]+([\w.~+/-]+=*)[ \t]*$/i;

/** A Bearer header wins over the cookie: a program's explicit token is what it means to use. */
export function presentedToken(req: FastifyRequest): PresentedToken | null {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = BEARER.exec(header);
    return m ? { token: m[1]!, via: 'bearer' } : null;
  }
  const cookie = req.cookies[SESSION_COOKIE];
  return cookie ? { token: cookie, via: 'cookie' } : null;
}

export const hasBearer = (req: FastifyRequest) => /^Bearer\s/i.test(req.headers.authorization ?? '');

/**
 * Checks the presented session token without side effects, or throws 401. The token must be an HS256
 * JWT signed with our secret (no `alg: none`, no other algorithm), unexpired, and its session must still
 * exist in Redis for the same user (one GET).
 */
export async function verifySession(
  req: FastifyRequest,
  auth: AuthServices,
): Promise<{ claims: SessionClaims; via: PresentedToken['via'] }> {
  const presented = presentedToken(req);
  if (!presented) {
    throw notLoggedIn(
      req.headers.authorization === undefined
        ? undefined
        : 'the Authorization header must be "Bearer <token>"',
    );
  }
  let verified: unknown;
  try {
    verified = req.server.jwt.verify(presented.token);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'FAST_JWT_EXPIRED')
      throw notLoggedIn('the session expired; log in again');
    throw notLoggedIn('the session token is not valid; log in again');
  }
  const parsed = SessionClaims.safeParse(verified);
  if (!parsed.success) throw notLoggedIn('the session token is not valid; log in again');
  const claims = parsed.data;
  if (auth.sessions.remaining(authTimeOf(claims)) <= 0) {
    throw notLoggedIn('the session reached its maximum lifetime; log in again');
  }
  if ((await auth.sessions.userOf(claims.sid)) !== claims.sub) {
    throw notLoggedIn('the session has ended; log in again');
  }
  return { claims, via: presented.via };
}

/** When the session's user logged in; tokens issued before `auth_time` existed count from their iat. */
export const authTimeOf = (claims: SessionClaims) => claims.auth_time ?? claims.iat;

/**
 * Establishes `req.user` from the session token, or throws 401 (clearing a bad cookie). A cookie past
 * half its lifetime is re-issued and its session extended: a sliding session for the web client.
 */
export async function authenticate(
  req: FastifyRequest,
  reply: FastifyReply,
  auth: AuthServices,
): Promise<void> {
  const presented = presentedToken(req);
  // API keys are looked up by their hash (one Redis round trip); everything else must be a session JWT.
  if (presented?.via === 'bearer' && looksLikeApiKey(presented.token)) {
    const found = await auth.apiKeys.resolve(presented.token);
    if (!found) throw notLoggedIn('the API key is not valid: it is unknown or was revoked');
    req.user = found.user;
    req.auth = { via: 'api_key', keyId: found.keyId };
    return;
  }
  let session: Awaited<ReturnType<typeof verifySession>>;
  try {
    session = await verifySession(req, auth);
  } catch (err) {
    const badCookie =
      isGatewayError(err) && err.code === 'unauthorized' && req.headers.authorization === undefined;
    if (badCookie && req.cookies[SESSION_COOKIE]) clearSessionCookie(req, reply, auth);
    throw err;
  }
  const { claims, via } = session;
  req.user = { id: claims.sub, username: claims.name, guest: claims.guest };
  req.auth = { via, sid: claims.sid, iat: claims.iat, exp: claims.exp };
  const ttl = auth.sessions.ttlSeconds;
  const authTime = authTimeOf(claims);
  // Re-issued only while that still gains time: near its absolute end a session just runs out.
  if (
    via === 'cookie' &&
    Date.now() / 1000 - claims.iat > ttl / 2 &&
    auth.sessions.remaining(authTime) > claims.exp - Date.now() / 1000
  ) {
    issueSession(req, reply, auth, req.user, claims.sid, authTime);
    await auth.sessions.extend(claims.sid, authTime);
    if (claims.guest) await auth.users.extendGuest(claims.sub, auth.sessions.remaining(authTime));
  }
}

/**
 * The user a request presents (session token or API key), or null; never throws for a bad or missing
 * token and never touches the cookie. For public routes that say more to some callers (`/ready`).
 */
export async function optionalUser(req: FastifyRequest, auth: AuthServices): Promise<SessionUser | null> {
  const presented = presentedToken(req);
  if (!presented) return null;
  try {
    if (presented.via === 'bearer' && looksLikeApiKey(presented.token)) {
      return (await auth.apiKeys.resolve(presented.token))?.user ?? null;
    }
    const { claims } = await verifySession(req, auth);
    return { id: claims.sub, username: claims.name, guest: claims.guest };
  } catch {
    return null;
  }
}
