import { randomBytes } from 'node:crypto';
import type { Config } from '@gateway/config';
import type { Logger } from '@gateway/logger';
import type { Keys } from '@gateway/queue';
import type { Redis } from 'ioredis';
import { ApiKeyStore } from './api-keys.js';
import { LoginLimiter } from './login-limiter.js';
import { SessionStore } from './sessions.js';
import { UserStore } from './users.js';

export interface AuthServices {
  users: UserStore;
  sessions: SessionStore;
  loginLimiter: LoginLimiter;
  /** Keys programs authenticate with (`Authorization: Bearer gwk_...`). */
  apiKeys: ApiKeyStore;
  /** Signs and checks session tokens (HS256). */
  jwtSecret: string;
  settings: Config['auth'];
}

/**
 * Without JWT_SECRET (development only: config refuses production without it) each process makes up
 * its own secret, so sessions die with the process and api processes reject each other's tokens.
 */
function resolveSecret(config: Config, log: Logger): string {
  if (config.auth.jwtSecret) return config.auth.jwtSecret;
  log.warn(
    'JWT_SECRET is not set: signing sessions with a random secret made up at start. Sessions end when this ' +
      "process restarts, and several api processes will reject each other's sessions. Set JWT_SECRET " +
      '(32+ characters, the same for every api process); it is required when NODE_ENV=production.',
  );
  return randomBytes(48).toString('base64url');
}

export function createAuthServices(config: Config, log: Logger, redis: Redis, keys: Keys): AuthServices {
  return {
    users: new UserStore(redis, keys),
    sessions: new SessionStore(redis, keys, config.auth.sessionTtlSeconds, config.auth.sessionMaxSeconds),
    loginLimiter: new LoginLimiter(redis, keys, {
      perUser: config.auth.loginMaxAttempts,
      perIp: config.auth.loginMaxAttemptsPerIp,
      windowSeconds: config.auth.loginWindowSeconds,
    }),
    apiKeys: new ApiKeyStore(redis, keys),
    jwtSecret: resolveSecret(config, log),
    settings: config.auth,
  };
}
