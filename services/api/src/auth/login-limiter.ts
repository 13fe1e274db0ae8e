import { GatewayError } from '@gateway/contracts';
import { type Keys, luaScript } from '@gateway/queue';
import type { Redis } from 'ioredis';

/** KEYS[1] = a counter; ARGV[1] = window seconds. Counts a hit and returns {hits, seconds left}. */
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`;

/** KEYS[1] = a counter. Takes one hit back, unless the window already ended (no key: nothing to undo). */
const UNHIT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
`;

export interface LoginLimits {
  /** Attempts per username from one client address in one window. */
  perUser: number;
  /** Attempts (logins and registrations) per client IP in one window. */
  perIp: number;
  windowSeconds: number;
}

/**
 * Fixed-window counters of login attempts per username from one address, and per client IP. Every attempt
 * counts before the password is checked, so a burst of parallel guesses cannot slip through and a blocked
 * caller costs no hashing. A successful login is taken back (`succeeded`), so in effect failures and
 * sign-ups count. The username counter is per address too: someone guessing from one address blocks
 * only that address, never the real user logging in from another (a lockout anyone could cause).
 */
export class LoginLimiter {
  private readonly hitScript;
  private readonly unhitScript;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    readonly limits: LoginLimits,
  ) {
    this.hitScript = luaScript<[number, number]>(redis, 'gwLoginHit', 1, HIT);
    this.unhitScript = luaScript<number>(redis, 'gwLoginUnhit', 1, UNHIT);
  }

  /** The counter of one username's attempts from one address. */
  private userKey(username: string, ip: string): string {
    return this.keys.loginAttempts('user', `${username}@${ip}`);
  }

  /** Counts an attempt; throws 429 `rate_limited` when either counter is over its limit. */
  async hit(scopes: { ip: string; username?: string | undefined }): Promise<void> {
    const { windowSeconds } = this.limits;
    const checks: { scope: 'ip' | 'user'; key: string; limit: number }[] = [
      { scope: 'ip', key: this.keys.loginAttempts('ip', scopes.ip), limit: this.limits.perIp },
    ];
    if (scopes.username !== undefined) {
      const key = this.userKey(scopes.username, scopes.ip);
      checks.unshift({ scope: 'user', key, limit: this.limits.perUser });
    }
    const results = await Promise.all(checks.map((c) => this.hitScript(c.key, windowSeconds)));
    for (const [i, c] of checks.entries()) {
      const [hits, ttl] = results[i]!;
      if (hits <= c.limit) continue;
      const retryAfter = Math.max(1, Number(ttl));
      const who = c.scope === 'user' ? 'this username from your address' : 'your address';
      throw new GatewayError(
        'rate_limited',
        `too many login attempts for ${who}; try again in ${retryAfter} s`,
        {
          retryAfter,
          details: {
            scope: c.scope === 'user' ? 'username' : 'ip',
            limit: c.limit,
            window_seconds: windowSeconds,
          },
        },
      );
    }
  }

  /**
   * A login that worked does not count: its username starts afresh and its address gets the attempt
   * back, so many people behind one NAT can log in while guessing from there stays limited.
   */
  async succeeded(scopes: { ip: string; username: string }): Promise<void> {
    const ip = this.keys.loginAttempts('ip', scopes.ip);
    await Promise.all([this.redis.del(this.userKey(scopes.username, scopes.ip)), this.unhitScript(ip)]);
  }
}
