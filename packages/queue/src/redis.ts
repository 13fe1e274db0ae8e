import { Cluster, Redis, type RedisOptions } from 'ioredis';

export type RedisRole =
  /** The api's own commands: fail fast while Redis is away so requests answer 503 at once. */
  | 'command'
  /** BullMQ and blocking reads: wait for Redis to come back, never give up on a command. */
  | 'blocking'
  /** Pub/sub listener. */
  | 'subscriber';

const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2_000);

/**
 * A Redis Cluster is named by `redis-cluster://[:password@]host1:port1,host2:port2` (or `rediss-cluster://`
 * for TLS): the seed nodes, from which ioredis learns the rest. Every key the gateway touches together
 * shares a hash tag, so scripts and transactions stay within one slot.
 */
export function parseClusterUrl(
  url: string,
): { nodes: { host: string; port: number }[]; password?: string; tls: boolean } | null {
  const m = /^(rediss?)-cluster:\/\/(?:([^@/]*)@)?([^/?#]+)/.exec(url);
  if (!m) return null;
  const auth = m[2] ? decodeURIComponent(m[2]) : '';
  const password = auth.includes(':') ? auth.slice(auth.indexOf(':') + 1) : auth;
  const nodes = m[3]!.split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    return { host: i > 0 ? hp.slice(0, i) : hp, port: i > 0 ? Number(hp.slice(i + 1)) : 6379 };
  });
  return { nodes, tls: m[1] === 'rediss', ...(password ? { password } : {}) };
}

export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const base: RedisOptions = {
    retryStrategy,
    connectionName: `gateway-${role}`,
    // RESP2 keeps replies in the shape our scripts and BullMQ's expect.
    protocol: 2,
    ...(role === 'command'
      ? {
          maxRetriesPerRequest: 1,
          enableOfflineQueue: false,
          connectTimeout: 2_000,
          commandTimeout: 5_000,
          // Commands issued in the same tick by concurrent requests leave in one write.
          enableAutoPipelining: true,
        }
      : { maxRetriesPerRequest: null, enableOfflineQueue: true }),
  } as RedisOptions;
  const cluster = parseClusterUrl(url);
  if (cluster) {
    const c = new Cluster(cluster.nodes, {
      clusterRetryStrategy: retryStrategy,
      enableOfflineQueue: base.enableOfflineQueue ?? true,
      redisOptions: {
        ...base,
        ...extra,
        ...(cluster.password ? { password: cluster.password } : {}),
        ...(cluster.tls ? { tls: {} } : {}),
      },
    });
    c.on('error', () => {});
    // The commands the gateway uses exist on both; BullMQ accepts a Cluster wherever it takes a Redis.
    return c as unknown as Redis;
  }
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
