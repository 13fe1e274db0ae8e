import { Redis } from 'ioredis';
import { freePort } from '../../bench/support/procs.js';
import { guestSession } from './auth.js';
import { RedisServer } from './redis-server.js';
import { type Stack, type StackOptions, startStack } from './stack.js';

/** A stack on a redis-server of its own (nothing else counted in its stats), with a guest signed in. */
export interface PrivateRedisStack {
  server: RedisServer;
  stack: Stack;
  /** A plain client of that server, for INFO, MEMORY and commandstats. */
  probe: Redis;
  headers: Record<string, string>;
  stop(): Promise<void>;
}

export async function startOnPrivateRedis(opts: StackOptions): Promise<PrivateRedisStack> {
  const server = new RedisServer(await freePort(), 'everysec');
  await server.start();
  const probe = new Redis(server.url);
  let stack: Stack | undefined;
  const stop = async () => {
    await stack?.stop();
    probe.disconnect();
    await server.stop();
  };
  try {
    stack = await startStack({ ...opts, env: { ...opts.env, REDIS_URL: server.url } });
    const { headers } = await guestSession(stack.apiUrl);
    return { server, stack, probe, headers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
