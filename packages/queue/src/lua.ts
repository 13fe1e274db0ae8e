import type { Redis } from 'ioredis';

type Call<R> = (...args: (string | number)[]) => Promise<R>;

/**
 * The one way the gateway loads a Lua script: run by its SHA (EVALSHA, loaded on first use), so the
 * script text crosses the wire once per connection, not on every call. Keys come first in the
 * arguments, as `numberOfKeys` says. Every script starts with a KEYS/ARGV header comment.
 */
export function luaScript<R = unknown>(
  redis: Redis,
  name: string,
  numberOfKeys: number,
  lua: string,
): Call<R> {
  const commands = redis as unknown as Record<string, Call<R> | undefined>;
  if (!commands[name]) redis.defineCommand(name, { numberOfKeys, lua });
  return (...args) => (commands[name] as Call<R>).apply(redis, args);
}
