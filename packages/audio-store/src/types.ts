/** One stored audio file: the whole reply (`chunk` unset) or one sentence of it. */
export interface AudioRef {
  id: string;
  chunk?: number | undefined;
  /**
   * The attempt of the chat job that made the chunk (speech while the reply streams): each attempt has its
   * own chunks, so a replaced attempt's late write never lands on the current attempt's audio.
   */
  attempt?: number | undefined;
}

export interface StoredAudio {
  contentType: string;
  size: number;
}

export type AudioBody = Uint8Array | AsyncIterable<Uint8Array>;

/**
 * Where synthesized speech lives until the job expires. A file becomes visible to `stat`/`read` only
 * once `write` has finished, so a reader never gets half a file.
 */
export interface AudioStore {
  readonly kind: 'redis' | 'dir';
  write(ref: AudioRef, contentType: string, body: AudioBody): Promise<StoredAudio>;
  stat(ref: AudioRef): Promise<StoredAudio | null>;
  /** Bytes `start..end` (inclusive) or the whole file; null when it does not exist (yet). */
  read(ref: AudioRef, range?: { start: number; end: number }): Promise<Buffer | null>;
  /**
   * Removes the whole file and its chunks: `chunks` sentence chunks, both the ones of a re-run asked for
   * by `POST …/tts` (no attempt) and those of each attempt 1..`attempts` of the reply.
   */
  remove(id: string, chunks?: number, attempts?: number): Promise<void>;
}

// Ids become Redis keys or file names: a strict shape keeps paths and key patterns out.
const ID = /^[A-Za-z0-9_-]{1,128}$/;

export function checkRef(ref: AudioRef): void {
  if (!ID.test(ref.id)) throw new Error('audio id must be 1-128 characters of A-Z a-z 0-9 _ -');
  if (ref.chunk !== undefined && !(Number.isInteger(ref.chunk) && ref.chunk >= 0)) {
    throw new Error('audio chunk must be a non-negative integer');
  }
  if (
    ref.attempt !== undefined &&
    !(ref.chunk !== undefined && Number.isInteger(ref.attempt) && ref.attempt >= 1)
  ) {
    throw new Error('audio attempt must be a positive integer, on a chunk');
  }
}

export class AudioTooLargeError extends Error {
  override readonly name = 'AudioTooLargeError';
  constructor(readonly limit: number) {
    super(`audio larger than ${limit} bytes`);
  }
}

export async function* chunksOf(body: AudioBody): AsyncIterable<Uint8Array> {
  if (body instanceof Uint8Array) yield body;
  else yield* body;
}

const TYPES: Record<string, string> = {
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  opus: 'audio/ogg',
  aac: 'audio/aac',
  flac: 'audio/flac',
  pcm: 'audio/pcm',
};

/** The Content-Type of an OpenAI `response_format` (wav when unknown). */
export function contentTypeOf(format: string): string {
  return TYPES[format] ?? 'application/octet-stream';
}

/** The file extension of a Content-Type (`bin` when unknown). */
export function extensionOf(contentType: string): string {
  const base = contentType.split(';')[0]?.trim().toLowerCase();
  for (const [ext, type] of Object.entries(TYPES)) if (type === base) return ext;
  return 'bin';
}
