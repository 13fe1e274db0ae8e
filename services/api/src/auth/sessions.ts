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
  ) {}

  async create(userId: string): Promise<string> {
    const sid = randomBytes(18).toString('base64url');
    await this.redis.set(this.keys.session(sid), userId, 'EX', this.ttlSeconds);
    return sid;
  }

  async userOf(sid: string): Promise<string | null> {
    return this.redis.get(this.keys.session(sid));
  }

  async extend(sid: string): Promise<void> {
    await this.redis.expire(this.keys.session(sid), this.ttlSeconds);
  }

  async end(sid: string): Promise<void> {
    await this.redis.del(this.keys.session(sid));
  }

  /** Claims for a new token of this session, valid for the session's lifetime from now. */
  claims(
    user: { id: string; username: string; guest: boolean },
    sid: string,
    now = Date.now(),
  ): SessionClaims {
    const iat = Math.floor(now / 1000);
    return { sub: user.id, sid, name: user.username, guest: user.guest, iat, exp: iat + this.ttlSeconds };
  }
}
