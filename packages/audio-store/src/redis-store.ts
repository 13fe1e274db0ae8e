import type { Keys } from '@gateway/queue';
import type { Redis } from 'ioredis';
import {
  type AudioBody,
  type AudioRef,
  type AudioStore,
  AudioTooLargeError,
  checkRef,
  chunksOf,
  type StoredAudio,
} from './types.js';

// Each value is `<flag><content type>\n<bytes>`; the flag turns from 0 to 1 when the last byte is in,
// so a reader never serves a file still being written, and a range is one GETRANGE away.
const WRITING = '0';
const READY = '1';
const HEAD_MAX = 128;
const APPEND_BATCH = 256 * 1024;

/** Audio as binary strings in Redis, expiring with the job that made them. */
export class RedisAudioStore implements AudioStore {
  readonly kind = 'redis';

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  private key(ref: AudioRef): string {
    checkRef(ref);
    return ref.chunk === undefined
      ? this.keys.audio(ref.id)
      : this.keys.audioChunk(ref.id, ref.chunk, ref.attempt);
  }

  async write(ref: AudioRef, contentType: string, body: AudioBody): Promise<StoredAudio> {
    const key = this.key(ref);
    const type = contentType.replace(/[\r\n]/g, '');
    const head = Buffer.from(`${WRITING}${type}\n`);
    if (head.length > HEAD_MAX) throw new Error('content type too long');
    if (body instanceof Uint8Array) {
      if (body.length > this.maxBytes) throw new AudioTooLargeError(this.maxBytes);
      head.write(READY, 0);
      await this.redis.set(key, Buffer.concat([head, body]), 'EX', this.ttlSeconds);
      return { contentType: type, size: body.length };
    }
    await this.redis.set(key, head, 'EX', this.ttlSeconds);
    let size = 0;
    let batch: Buffer[] = [];
    let batched = 0;
    const flush = async () => {
      if (batched === 0) return;
      await this.redis.append(key, Buffer.concat(batch));
      batch = [];
      batched = 0;
    };
    for await (const part of chunksOf(body)) {
      size += part.length;
      if (size > this.maxBytes) {
        await this.redis.del(key);
        throw new AudioTooLargeError(this.maxBytes);
      }
      batch.push(Buffer.from(part));
      batched += part.length;
      if (batched >= APPEND_BATCH) await flush();
    }
    await flush();
    await this.redis.multi().setrange(key, 0, READY).expire(key, this.ttlSeconds).exec();
    return { contentType: type, size };
  }

  private async header(key: string): Promise<{ contentType: string; offset: number; size: number } | null> {
    const [head, len] = await Promise.all([
      this.redis.getrangeBuffer(key, 0, HEAD_MAX - 1),
      this.redis.strlen(key),
    ]);
    if (!head || head.length === 0 || head.toString('latin1', 0, 1) !== READY) return null;
    const nl = head.indexOf(0x0a);
    if (nl < 0) return null;
    return { contentType: head.toString('utf8', 1, nl), offset: nl + 1, size: len - nl - 1 };
  }

  async stat(ref: AudioRef): Promise<StoredAudio | null> {
    const h = await this.header(this.key(ref));
    return h ? { contentType: h.contentType, size: h.size } : null;
  }

  async read(ref: AudioRef, range?: { start: number; end: number }): Promise<Buffer | null> {
    const key = this.key(ref);
    const h = await this.header(key);
    if (!h) return null;
    if (h.size === 0) return Buffer.alloc(0);
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? h.size - 1, h.size - 1);
    if (end < start) return Buffer.alloc(0);
    return this.redis.getrangeBuffer(key, h.offset + start, h.offset + end);
  }

  async remove(id: string, chunks = 0, attempts = 0): Promise<void> {
    const keys = [this.key({ id })];
    for (let n = 0; n < chunks; n++) {
      keys.push(this.key({ id, chunk: n }));
      for (let a = 1; a <= attempts; a++) keys.push(this.key({ id, chunk: n, attempt: a }));
    }
    // Keys of one id share its hash tag, so one DEL works on a cluster too.
    await this.redis.del(...keys);
  }
}
