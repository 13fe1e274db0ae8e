import { cpus, release, totalmem } from 'node:os';
import { createRedis } from '@gateway/queue';
import { REDIS_URL } from './gateway.js';

/** What the figures were measured on. */
export async function machine(): Promise<Record<string, string | number>> {
  const redis = createRedis(REDIS_URL, 'blocking');
  const info = await redis.info('server').catch(() => '');
  redis.disconnect();
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
  };
}
