/**
 * Coalesces streamed tokens into fewer Redis writes: the first token goes out at once (time to first
 * token matters most), later ones at most every `flushMs`. Writes are chained, so text stays in order.
 */
export class TokenBuffer {
  private text = '';
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private first = true;
  private failure: unknown = null;

  constructor(
    private readonly flushMs: number,
    private readonly write: (text: string) => Promise<void>,
  ) {}

  push(delta: string): void {
    if (!delta) return;
    this.text += delta;
    if (this.first || this.flushMs === 0) {
      this.first = false;
      this.drain();
    } else {
      this.timer ??= setTimeout(() => this.drain(), this.flushMs);
    }
  }

  /** Writes what is buffered and waits for every write so far; rethrows a failed write. */
  async flush(): Promise<void> {
    this.drain();
    await this.chain;
    if (this.failure) throw this.failure;
  }

  /**
   * Waits for every write so far and hands back what is still buffered instead of writing it, so that the
   * caller can send it with the job's last events (one write less per reply); rethrows a failed write.
   */
  async take(): Promise<string> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.chain;
    if (this.failure) throw this.failure;
    const text = this.text;
    this.text = '';
    return text;
  }

  /** Drops what is buffered (the job was cancelled or failed). */
  discard(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.text = '';
  }

  private drain(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.text) return;
    const text = this.text;
    this.text = '';
    this.chain = this.chain.then(() =>
      this.write(text).catch((err: unknown) => {
        this.failure ??= err;
      }),
    );
  }
}
