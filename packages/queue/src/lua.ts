import type { Redis } from 'ioredis';

type Call = (...args: (string | number)[]) => Promise<unknown>;

/**
 * A Lua script run by its SHA (EVALSHA, loaded on first use): the script text crosses the wire once per
 * connection, not on every call. Keys come first in the arguments, as `numberOfKeys` says.
 */
export function luaScript(redis: Redis, name: string, numberOfKeys: number, lua: string): Call {
  const commands = redis as unknown as Record<string, Call | undefined>;
  if (!commands[name]) redis.defineCommand(name, { numberOfKeys, lua });
  return (...args) => (commands[name] as Call).apply(redis, args);
}
