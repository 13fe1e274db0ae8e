// Generation slots with a FIFO wait list, like vLLM's scheduler (--max-num-seqs) or Ollama's
// OLLAMA_NUM_PARALLEL. Callback based (no promise per request) to stay cheap under benchmarks.

export interface Ticket {
  /** Leave the wait list, or free the slot if already granted. Idempotent. */
  release(): void;
}

interface Waiter {
  grant: (t: Ticket) => void;
  /** Sequences the request runs at once (vLLM `n`): each takes one of --max-num-seqs. */
  seqs: number;
  state: 'waiting' | 'granted' | 'done';
  ticket: Ticket;
}

export class Slots {
  private generatingNow = 0;
  private peak = 0;
  // FIFO array with a head index; a waiter that leaves is only marked 'done' and skipped later
  // (a Set re-scans its deleted slots on every values().next(): quadratic with long queues).
  private queue: Waiter[] = [];
  private head = 0;
  private waitingNow = 0;

  constructor(
    private capacity: number,
    private maxQueue: number,
  ) {}

  get generating(): number {
    return this.generatingNow;
  }
  get waiting(): number {
    return this.waitingNow;
  }
  get maxGenerating(): number {
    return this.peak;
  }
  resetPeak(): void {
    this.peak = this.generatingNow;
  }

  configure(capacity: number, maxQueue: number): void {
    this.capacity = capacity;
    this.maxQueue = maxQueue;
    this.pump();
  }

  /**
   * Asks for a slot. `grant` runs synchronously when one is free, else later in FIFO order; it
   * gets the ticket too, since a synchronous grant runs before acquire() returns it.
   * Returns undefined (and never calls `grant`) when the wait list is full.
   */
  acquire(grant: (t: Ticket) => void, seqs = 1): Ticket | undefined {
    const w = { grant, seqs, state: 'waiting' } as Waiter;
    w.ticket = { release: () => this.release(w) };
    if (this.fits(w) && this.waitingNow === 0) {
      this.start(w);
    } else {
      if (this.waitingNow >= this.maxQueue) return undefined;
      this.queue.push(w);
      this.waitingNow++;
    }
    return w.ticket;
  }

  /** Room for all of a request's sequences; one wider than the whole capacity runs alone. */
  private fits(w: Waiter): boolean {
    return this.generatingNow + w.seqs <= this.capacity || this.generatingNow === 0;
  }

  private start(w: Waiter): void {
    w.state = 'granted';
    this.generatingNow += w.seqs;
    if (this.generatingNow > this.peak) this.peak = this.generatingNow;
    w.grant(w.ticket);
  }

  private release(w: Waiter): void {
    if (w.state === 'waiting') this.waitingNow--;
    else if (w.state === 'granted') this.generatingNow -= w.seqs;
    w.state = 'done';
    this.pump();
  }

  // A zero-latency reply finishes inside grant() and releases at once; without this guard every
  // hand-over would nest one stack frame deeper (stack overflow with thousands waiting).
  private pumping = false;

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.generatingNow < this.capacity && this.head < this.queue.length) {
        const w = this.queue[this.head]!;
        if (w.state !== 'waiting') {
          this.head++;
          continue;
        }
        // First come, first served: a wide request at the head waits for room rather than being passed.
        if (!this.fits(w)) break;
        this.head++;
        this.waitingNow--;
        this.start(w);
      }
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
    } finally {
      this.pumping = false;
    }
  }
}
