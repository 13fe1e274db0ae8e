import type { Redis } from 'ioredis';
import { compareStreamIds, parsePublished, readEvents, type StoredEvent } from './event-log.js';

export interface EventSubscription {
  close(): void;
}

interface Listener {
  stream: string;
  last: string | null;
  /** Live events that arrived while history was being read; delivered after it, in order. */
  pending: StoredEvent[] | null;
  deliver(event: StoredEvent): void;
  closed: boolean;
}

/**
 * Fans job events out to any number of local listeners (SSE clients) over ONE pub/sub connection per
 * process. A listener first reads the stored history after its last id, then live events; ids decide
 * what is new, so nothing is lost or repeated across the hand-over or a Redis reconnect.
 */
export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(
    private readonly subscriber: Redis,
    private readonly reader: Redis,
  ) {
    subscriber.on('message', (channel: string, payload: string) => this.onMessage(channel, payload));
    // ioredis re-subscribes after a reconnect; events published while it was away are read from the streams.
    subscriber.on('ready', () => {
      for (const set of this.listeners.values()) for (const l of set) void this.catchUp(l);
    });
  }

  get size(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  async subscribe(
    stream: string,
    afterId: string | null,
    deliver: (event: StoredEvent) => void,
  ): Promise<EventSubscription> {
    const listener: Listener = { stream, last: afterId, pending: [], deliver, closed: false };
    let set = this.listeners.get(stream);
    if (!set) {
      set = new Set();
      this.listeners.set(stream, set);
      set.add(listener);
      try {
        await this.subscriber.subscribe(stream);
      } catch (err) {
        this.remove(listener);
        throw err;
      }
    } else {
      set.add(listener);
    }
    try {
      await this.catchUp(listener);
    } catch (err) {
      this.remove(listener);
      throw err;
    }
    return { close: () => this.remove(listener) };
  }

  private async catchUp(l: Listener): Promise<void> {
    l.pending ??= [];
    const history = await readEvents(this.reader, l.stream, l.last);
    const live = l.pending;
    l.pending = null;
    for (const e of history) this.push(l, e);
    for (const e of live) this.push(l, e);
  }

  private push(l: Listener, e: StoredEvent): void {
    if (l.closed) return;
    if (l.last && compareStreamIds(e.id, l.last) <= 0) return;
    l.last = e.id;
    l.deliver(e);
  }

  private onMessage(channel: string, payload: string): void {
    const set = this.listeners.get(channel);
    if (!set) return;
    const e = parsePublished(payload);
    if (!e) return;
    for (const l of set) {
      if (l.pending) l.pending.push(e);
      else this.push(l, e);
    }
  }

  private remove(l: Listener): void {
    l.closed = true;
    const set = this.listeners.get(l.stream);
    if (!set?.delete(l) || set.size > 0) return;
    this.listeners.delete(l.stream);
    this.subscriber.unsubscribe(l.stream).catch(() => {});
  }
}
