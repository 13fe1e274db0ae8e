import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

export interface BackendStatus {
  status: 'up' | 'down';
  since: number | null;
  reason: string | null;
}

/** Whether the LLM backend is reachable, as the workers last saw it; shared so the api can tell clients. */
export class BackendState {
  constructor(
    private readonly redis: Redis,
    keys: Keys,
    /** One server's state key (`Keys.serverState`); the pool of one's by default. */
    private readonly key = keys.backendState(),
  ) {}

  async markDown(reason: string, now = Date.now()): Promise<void> {
    const key = this.key;
    const was = await this.redis.hget(key, 'status');
    await this.redis.hset(key, {
      status: 'down',
      reason: reason.slice(0, 300),
      ...(was === 'down' ? {} : { since: now }),
    });
  }

  async markUp(now = Date.now()): Promise<void> {
    await this.redis.hset(this.key, { status: 'up', since: now, reason: '' });
  }

  async isDown(): Promise<boolean> {
    return (await this.redis.hget(this.key, 'status')) === 'down';
  }

  async get(): Promise<BackendStatus> {
    const h = await this.redis.hgetall(this.key);
    return {
      status: h.status === 'down' ? 'down' : 'up',
      since: h.since ? Number(h.since) : null,
      reason: h.reason || null,
    };
  }
}
