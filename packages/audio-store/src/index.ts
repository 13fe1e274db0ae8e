import type { Keys } from '@gateway/queue';
import type { Redis } from 'ioredis';
import { DirAudioStore } from './dir-store.js';
import { RedisAudioStore } from './redis-store.js';
import type { AudioStore } from './types.js';

export { DirAudioStore } from './dir-store.js';
export { parseRange, type RangeResult } from './range.js';
export { RedisAudioStore } from './redis-store.js';
export * from './types.js';

export interface AudioStoreOptions {
  kind: 'redis' | 'dir';
  /** Used by the `dir` store. */
  dir: string;
  redis: Redis;
  keys: Keys;
  /** Audio lives as long as the job record it belongs to. */
  ttlSeconds: number;
  maxBytes?: number;
}

export function createAudioStore(o: AudioStoreOptions): AudioStore {
  return o.kind === 'dir'
    ? new DirAudioStore(o.dir, o.ttlSeconds, o.maxBytes)
    : new RedisAudioStore(o.redis, o.keys, o.ttlSeconds, o.maxBytes);
}
