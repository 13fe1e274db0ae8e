import { randomBytes } from 'node:crypto';
import type { Keys } from '@gateway/queue';
import type { Redis } from 'ioredis';
import { z } from 'zod';

/** What the session JWT says. `sid` names the server-side session, so a logout really ends it. */
export const SessionClaims = z.object({
  sub: z.string().min(1).max(64),
  sid: z.string().min(1).max(64),
  name: z.string().max(200),
  guest: z.boolean(),
  iat: z.number().int(),
  exp: z.number().int(),
  /** When the user logged in: the session ends SESSION_MAX_SECONDS after it (tokens from before: iat). */
  auth_time: z.number().int().optional(),
});
export type SessionClaims = z.infer<typeof SessionClaims>;

/**
 * Live sessions: `sess:{sid}` -> user id, expiring with the token. A token is honoured only while its
 * session exists and names the same user, which costs one GET per request and makes logout, guest
 * expiry and revocation real rather than waiting for the token's `exp`.
 */
export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    readonly ttlSeconds: number,
    /** The absolute lifetime from login: sliding renewal never carries a session past it. */
    readonly maxSeconds: number = ttlSeconds,
  ) {}

  /** Seconds a session that logged in at `authTime` may still live, at most one sliding period. */
  remaining(authTime: number, now = Date.now()): number {
    return Math.min(this.ttlSeconds, authTime + this.maxSeconds - Math.floor(now / 1000));
  }

  async create(userId: string): Promise<string> {
    const sid = randomBytes(18).toString('base64url');
    await this.redis.set(this.keys.session(sid), userId, 'EX', Math.min(this.ttlSeconds, this.maxSeconds));
    return sid;
  }

  async userOf(sid: string): Promise<string | null> {
    return this.redis.get(this.keys.session(sid));
  }

  /** Slides the session on, but never past its absolute end. */
  async extend(sid: string, authTime: number): Promise<void> {
    const left = this.remaining(authTime);
    if (left > 0) await this.redis.expire(this.keys.session(sid), left);
  }

  async end(sid: string): Promise<void> {
    await this.redis.del(this.keys.session(sid));
  }

  /** Claims for a new token of this session, valid for one sliding period from now or to its absolute end. */
  claims(
    user: { id: string; username: string; guest: boolean },
    sid: string,
    authTime: number,
    now = Date.now(),
  ): SessionClaims {
    const iat = Math.floor(now / 1000);
    const exp = iat + Math.max(0, this.remaining(authTime, now));
    return { sub: user.id, sid, name: user.username, guest: user.guest, iat, exp, auth_time: authTime };
  }
}
