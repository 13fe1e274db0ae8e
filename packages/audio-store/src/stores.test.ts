import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeys, createRedis } from '@gateway/queue';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirAudioStore } from './dir-store.js';
import { RedisAudioStore } from './redis-store.js';
import { type AudioStore, AudioTooLargeError } from './types.js';

const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i % 251));
async function* pieces(buf: Buffer, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

let redis: Redis;
let dir: string;
const prefix = `t${randomUUID().replaceAll('-', '').slice(0, 10)}`;
const keys = createKeys(prefix);

beforeAll(async () => {
  redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'blocking');
  dir = await mkdtemp(join(tmpdir(), 'audio-store-'));
});
afterAll(async () => {
  const left = await redis.keys(`${prefix}:*`);
  if (left.length > 0) await redis.del(...left);
  redis.disconnect();
  await rm(dir, { recursive: true, force: true });
});

const stores: [string, () => AudioStore][] = [
  ['redis', () => new RedisAudioStore(redis, keys, 60, 1_000_000)],
  ['dir', () => new DirAudioStore(dir, 60, 1_000_000)],
];

describe.each(stores)('%s audio store', (_name, make) => {
  it('writes a buffer and reads it whole and by range', async () => {
    const store = make();
    const id = randomUUID();
    const data = bytes(5_000);
    expect(await store.stat({ id })).toBeNull();
    expect(await store.read({ id })).toBeNull();
    expect(await store.write({ id }, 'audio/wav', data)).toEqual({ contentType: 'audio/wav', size: 5_000 });
    expect(await store.stat({ id })).toEqual({ contentType: 'audio/wav', size: 5_000 });
    expect(Buffer.compare((await store.read({ id }))!, data)).toBe(0);
    const part = await store.read({ id }, { start: 10, end: 19 });
    expect(Buffer.compare(part!, data.subarray(10, 20))).toBe(0);
    expect((await store.read({ id }, { start: 4_990, end: 9_999 }))!.length).toBe(10);
  });

  it('streams a body in pieces and keeps chunks apart from the whole file', async () => {
    const store = make();
    const id = randomUUID();
    const data = bytes(300_000);
    await store.write({ id, chunk: 0 }, 'audio/wav', pieces(data.subarray(0, 1000), 100));
    await store.write({ id }, 'audio/mpeg', pieces(data, 7_000));
    expect(await store.stat({ id })).toEqual({ contentType: 'audio/mpeg', size: 300_000 });
    expect(await store.stat({ id, chunk: 0 })).toEqual({ contentType: 'audio/wav', size: 1_000 });
    expect(await store.stat({ id, chunk: 1 })).toBeNull();
    expect(Buffer.compare((await store.read({ id }))!, data)).toBe(0);
    await store.remove(id, 1);
    expect(await store.stat({ id })).toBeNull();
    expect(await store.stat({ id, chunk: 0 })).toBeNull();
  });

  it('refuses audio over the size limit and leaves nothing readable', async () => {
    const store = make();
    const id = randomUUID();
    await expect(store.write({ id }, 'audio/wav', pieces(bytes(1_200_000), 100_000))).rejects.toBeInstanceOf(
      AudioTooLargeError,
    );
    expect(await store.stat({ id })).toBeNull();
  });

  it('refuses ids that could escape a key or a path', async () => {
    const store = make();
    await expect(store.write({ id: '../etc' }, 'audio/wav', bytes(1))).rejects.toThrow(/audio id/);
    await expect(store.stat({ id: 'a*' })).rejects.toThrow(/audio id/);
  });
});

it('redis store: a file being written is invisible until complete, and expires with the job', async () => {
  const store = new RedisAudioStore(redis, keys, 60);
  const id = randomUUID();
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let taken!: () => void;
  const firstTaken = new Promise<void>((r) => {
    taken = r;
  });
  async function* slow(): AsyncIterable<Uint8Array> {
    yield bytes(300_000);
    // The store took the first chunk and asks for more: the write is under way.
    taken();
    await gate;
    yield bytes(10);
  }
  const writing = store.write({ id }, 'audio/wav', slow());
  await firstTaken;
  expect(await store.stat({ id })).toBeNull();
  release();
  await writing;
  expect((await store.stat({ id }))?.size).toBe(300_010);
  const ttl = await redis.ttl(keys.audio(id));
  expect(ttl).toBeGreaterThan(50);
  expect(ttl).toBeLessThanOrEqual(60);
});

it('dir store: the sweep removes audio older than the retention', async () => {
  const store = new DirAudioStore(dir, 60);
  const old = randomUUID();
  const fresh = randomUUID();
  await store.write({ id: old }, 'audio/wav', bytes(10));
  await store.write({ id: fresh }, 'audio/wav', bytes(10));
  const past = new Date(Date.now() - 120_000);
  await utimes(join(dir, old), past, past);
  expect(await store.sweep(Date.now(), true)).toBeGreaterThanOrEqual(1);
  const left = await readdir(dir);
  expect(left).toContain(fresh);
  expect(left).not.toContain(old);
});
