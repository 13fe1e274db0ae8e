import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  type AudioBody,
  type AudioRef,
  type AudioStore,
  AudioTooLargeError,
  checkRef,
  chunksOf,
  contentTypeOf,
  extensionOf,
  type StoredAudio,
} from './types.js';

const SWEEP_EVERY_MS = 10 * 60_000;

/**
 * Audio as plain files in a directory (a shared volume when api and workers run on different hosts):
 * `<dir>/<id>/whole.wav`, `<dir>/<id>/chunk-3.wav`,
 * `<dir>/<id>/chunk-a2-3.wav` (chunk 3 of attempt 2, speech while the reply streams). Files appear by rename, so readers never see half
 * of one. Directories older than the retention are swept now and then by the writers.
 */
export class DirAudioStore implements AudioStore {
  readonly kind = 'dir';
  private lastSweep = 0;

  constructor(
    private readonly dir: string,
    private readonly ttlSeconds: number,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  private base(ref: AudioRef): string {
    checkRef(ref);
    if (ref.chunk === undefined) return 'whole';
    return ref.attempt === undefined ? `chunk-${ref.chunk}` : `chunk-a${ref.attempt}-${ref.chunk}`;
  }

  private async find(ref: AudioRef): Promise<{ path: string; contentType: string } | null> {
    const base = this.base(ref);
    let names: string[];
    try {
      names = await readdir(join(this.dir, ref.id));
    } catch {
      return null;
    }
    const name = names.find((n) => n.startsWith(`${base}.`) && !n.includes('.tmp'));
    if (!name) return null;
    const ext = name.slice(base.length + 1);
    return { path: join(this.dir, ref.id, name), contentType: contentTypeOf(ext) };
  }

  async write(ref: AudioRef, contentType: string, body: AudioBody): Promise<StoredAudio> {
    const base = this.base(ref);
    const folder = join(this.dir, ref.id);
    await mkdir(folder, { recursive: true });
    const ext = extensionOf(contentType);
    const final = join(folder, `${base}.${ext}`);
    const tmp = `${final}.tmp-${randomBytes(4).toString('hex')}`;
    let size = 0;
    const limit = this.maxBytes;
    const counted = async function* () {
      for await (const part of chunksOf(body)) {
        size += part.length;
        if (size > limit) throw new AudioTooLargeError(limit);
        yield part;
      }
    };
    try {
      await pipeline(counted(), createWriteStream(tmp));
      // A file of the same ref in another format would shadow this one.
      for (const name of await readdir(folder)) {
        if (name.startsWith(`${base}.`) && !name.includes('.tmp') && name !== `${base}.${ext}`) {
          await rm(join(folder, name), { force: true });
        }
      }
      await rename(tmp, final);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    void this.sweep().catch(() => {});
    return { contentType: contentTypeOf(ext), size };
  }

  async stat(ref: AudioRef): Promise<StoredAudio | null> {
    const found = await this.find(ref);
    if (!found) return null;
    try {
      return { contentType: found.contentType, size: (await stat(found.path)).size };
    } catch {
      return null;
    }
  }

  async read(ref: AudioRef, range?: { start: number; end: number }): Promise<Buffer | null> {
    const found = await this.find(ref);
    if (!found) return null;
    let file: Awaited<ReturnType<typeof open>>;
    try {
      file = await open(found.path, 'r');
    } catch {
      return null;
    }
    try {
      const size = (await file.stat()).size;
      const start = range?.start ?? 0;
      const end = Math.min(range?.end ?? size - 1, size - 1);
      if (end < start) return Buffer.alloc(0);
      const buf = Buffer.alloc(end - start + 1);
      const { bytesRead } = await file.read(buf, 0, buf.length, start);
      return buf.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  }

  async remove(id: string): Promise<void> {
    checkRef({ id });
    await rm(join(this.dir, id), { recursive: true, force: true });
  }

  /** Deletes the audio of jobs past their retention (the Redis store gets this from key expiry). */
  async sweep(now = Date.now(), force = false): Promise<number> {
    if (!force && now - this.lastSweep < SWEEP_EVERY_MS) return 0;
    this.lastSweep = now;
    let removed = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const path = join(this.dir, name);
      const info = await stat(path).catch(() => null);
      if (info && now - info.mtimeMs > this.ttlSeconds * 1000) {
        await rm(path, { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }
}
