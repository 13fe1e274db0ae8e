/**
 * Plays a reply's speech chunk by chunk as the server announces them (`tts` events with `chunk` N), one
 * right after the other: each chunk is fetched and decoded in order, then scheduled on the Web Audio clock
 * to start exactly where the one before ends, so there is no gap between sentences. A newer attempt of
 * the reply (after a worker restart) replaces what was queued; `stop()` silences everything at once.
 */

export interface ChunkPlayerEvents {
  /** The first chunk started playing. */
  onStart?: () => void;
  /** Nothing is playing or waiting any more (the end, or a stop). */
  onIdle?: () => void;
}

export class ChunkPlayer {
  private ctx: AudioContext | null = null;
  private attempt = 0;
  /** The next chunk number to fetch: every chunk before an announced one exists, so none is skipped. */
  private nextChunk = 0;
  /** When the scheduled audio ends, on the AudioContext clock. */
  private endsAt = 0;
  private loading: Promise<void> = Promise.resolve();
  private pending = 0;
  private readonly playing = new Set<AudioBufferSourceNode>();
  /** Bumped by stop and by a new attempt: chunks already on their way are dropped. */
  private generation = 0;
  private started = false;

  constructor(
    private readonly urlOf: (chunk: number) => string,
    private readonly on: ChunkPlayerEvents = {},
  ) {}

  get active(): boolean {
    return this.pending > 0 || this.playing.size > 0;
  }

  /** Chunk `chunk` of `attempt` is ready on the server. */
  add(attempt: number, chunk: number): void {
    if (attempt < this.attempt) return;
    if (attempt > this.attempt) {
      this.silence();
      this.attempt = attempt;
      this.nextChunk = 0;
    }
    const gen = this.generation;
    while (this.nextChunk <= chunk) {
      const n = this.nextChunk++;
      this.pending++;
      // Fetched one after another: chunks are scheduled in their order, whatever the network does.
      this.loading = this.loading
        .then(async () => {
          await this.load(n, gen);
        })
        .catch(() => {})
        .finally(() => {
          this.pending--;
          this.idleCheck();
        });
    }
  }

  /**
   * The whole reply is spoken: fetch any chunk not announced yet (announcements that arrived together can
   * be seen as one) until the server has no more.
   */
  drain(): void {
    const gen = this.generation;
    this.pending++;
    const next = async (): Promise<void> => {
      const n = this.nextChunk;
      if (gen !== this.generation || !(await this.load(n, gen))) return;
      this.nextChunk = Math.max(this.nextChunk, n + 1);
      return next();
    };
    this.loading = this.loading
      .then(next)
      .catch(() => {})
      .finally(() => {
        this.pending--;
        this.idleCheck();
      });
  }

  /** Stops what plays and drops what waits. */
  stop(): void {
    this.silence();
    this.idleCheck();
  }

  close(): void {
    this.silence();
    void this.ctx?.close().catch(() => {});
    this.ctx = null;
  }

  private silence(): void {
    this.generation++;
    for (const source of this.playing) {
      source.onended = null;
      source.stop();
    }
    this.playing.clear();
    this.endsAt = 0;
  }

  /** Fetches, decodes and schedules chunk `n`; false when the server has no such chunk. */
  private async load(n: number, gen: number): Promise<boolean> {
    const res = await fetch(this.urlOf(n), { credentials: 'same-origin' });
    if (!res.ok || gen !== this.generation) return false;
    const bytes = await res.arrayBuffer();
    if (gen !== this.generation) return false;
    this.ctx ??= new AudioContext();
    const ctx = this.ctx;
    if (ctx.state === 'suspended') await ctx.resume().catch(() => {});
    const buffer = await ctx.decodeAudioData(bytes);
    if (gen !== this.generation) return false;
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    // A little ahead of "now" for the first chunk; every later one starts where the previous ends.
    const at = Math.max(this.endsAt, ctx.currentTime + 0.05);
    source.start(at);
    this.endsAt = at + buffer.duration;
    this.playing.add(source);
    source.onended = () => {
      this.playing.delete(source);
      this.idleCheck();
    };
    if (!this.started) {
      this.started = true;
      this.on.onStart?.();
    }
    return true;
  }

  private idleCheck(): void {
    if (!this.active) this.on.onIdle?.();
  }
}
