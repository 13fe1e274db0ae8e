import { Redis, type RedisOptions } from 'ioredis';

export type RedisRole =
  /** The api's own commands: fail fast while Redis is away so requests answer 503 at once. */
  | 'command'
  /** BullMQ and blocking reads: wait for Redis to come back, never give up on a command. */
  | 'blocking'
  /** Pub/sub listener. */
  | 'subscriber';

const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2_000);

export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const base: RedisOptions = {
    retryStrategy,
    connectionName: `gateway-${role}`,
    // RESP2 keeps replies in the shape our scripts and BullMQ's expect.
    protocol: 2,
    ...(role === 'command'
      ? { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000, commandTimeout: 5_000 }
      : { maxRetriesPerRequest: null, enableOfflineQueue: true }),
  } as RedisOptions;
  const client = new Redis(url, { ...base, ...extra });
  // Errors surface through commands; without a listener ioredis would log every reconnect attempt.
  client.on('error', () => {});
  return client;
}

export function isRedisDownError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const m = err.message;
  return (
    m.includes("Stream isn't writeable") ||
    m.includes('Connection is closed') ||
    m.includes('ECONNREFUSED') ||
    m.includes('ECONNRESET') ||
    m.includes('Command timed out') ||
    m.includes('Reached the max retries per request limit') ||
    m.includes('LOADING') ||
    m.includes('enableOfflineQueue')
  );
}
