import type { Redis } from 'ioredis';
import { compareStreamIds, readEvents, type StoredEvent, toStoredEvent } from './event-log.js';

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

interface Watched {
  /** The id after which the next XREAD reads this stream. */
  cursor: string;
  listeners: Set<Listener>;
}

/** Streams read together by one blocking XREAD on one connection. */
interface ReadGroup {
  conn: Redis;
  /** CLIENT ID of `conn`, to wake it (CLIENT UNBLOCK) when a stream joins; null until known. */
  clientId: number | null;
  blocked: boolean;
  running: boolean;
  streams: Map<string, Watched>;
  /** The connection was made for this group alone (a Cluster): closed when the group empties. */
  own: boolean;
}

/** A blocked read returns at least this often, so a lost wake-up costs at most this delay. */
const BLOCK_MS = 5_000;
/** Entries per stream per read: small reads keep the api's memory flat when a stream runs far ahead. */
const READ_COUNT = 100;

/**
 * Fans job events out to any number of local listeners (SSE clients) by reading the job streams
 * themselves: ONE blocking XREAD per process covers every stream with a listener, so a worker's append
 * is the only write per event (no PUBLISH, no expiry or lookup beside it). A listener first reads the
 * stored history after its last id, then live events; ids decide what is new, so nothing is lost or
 * repeated across the hand-over or a Redis reconnect (XREAD resumes from explicit ids).
 *
 * On a Redis Cluster one XREAD cannot span streams of different slots, so each stream is read on its
 * own connection there.
 */
export class EventHub {
  private readonly groups = new Map<string, ReadGroup>();
  private readonly cluster: boolean;

  constructor(
    private readonly reader: Redis,
    private readonly command: Redis,
  ) {
    this.cluster = (reader as unknown as { isCluster?: boolean }).isCluster === true;
    if (!this.cluster) {
      // A new connection has a new id; the loop asks again before its next block.
      reader.on('close', () => {
        const g = this.groups.get('');
        if (g) g.clientId = null;
      });
    }
  }

  get size(): number {
    let n = 0;
    for (const g of this.groups.values()) for (const w of g.streams.values()) n += w.listeners.size;
    return n;
  }

  async subscribe(
    stream: string,
    afterId: string | null,
    deliver: (event: StoredEvent) => void,
  ): Promise<EventSubscription> {
    const listener: Listener = { stream, last: afterId, pending: [], deliver, closed: false };
    const group = this.groupOf(stream);
    let watched = group.streams.get(stream);
    const joined = !watched;
    if (!watched) {
      watched = { cursor: '', listeners: new Set() };
      group.streams.set(stream, watched);
    }
    watched.listeners.add(listener);
    try {
      await this.catchUp(listener);
    } catch (err) {
      this.remove(listener);
      throw err;
    }
    if (joined && !watched.cursor) {
      // Read on from what the history showed: anything appended since then comes with the next XREAD.
      watched.cursor = listener.last ?? '0-0';
      this.wake(group);
    }
    return { close: () => this.remove(listener) };
  }

  private groupOf(stream: string): ReadGroup {
    const name = this.cluster ? stream : '';
    let g = this.groups.get(name);
    if (!g) {
      g = {
        conn: this.cluster ? this.reader.duplicate() : this.reader,
        clientId: null,
        blocked: false,
        running: false,
        streams: new Map(),
        own: this.cluster,
      };
      if (g.own) g.conn.on('error', () => {});
      this.groups.set(name, g);
    }
    return g;
  }

  /** Starts the group's read loop, or makes a blocked read return so that it includes a new stream. */
  private wake(g: ReadGroup): void {
    if (!g.running) {
      void this.loop(g);
      return;
    }
    if (g.blocked && g.clientId !== null) {
      this.command.client('UNBLOCK', g.clientId).catch(() => {});
    }
  }

  private async loop(g: ReadGroup): Promise<void> {
    g.running = true;
    try {
      while (g.streams.size > 0) {
        const names: string[] = [];
        const ids: string[] = [];
        for (const [name, w] of g.streams) {
          if (!w.cursor) continue; // still reading its history
          names.push(name);
          ids.push(w.cursor);
        }
        if (names.length === 0) return;
        let reply: [string, [string, string[]][]][] | null;
        try {
          if (g.clientId === null && !this.cluster) g.clientId = Number(await g.conn.client('ID'));
          g.blocked = true;
          reply = (await g.conn.xread('COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', ...names, ...ids)) as
            | [string, [string, string[]][]][]
            | null;
        } catch {
          // Redis away: ioredis reconnects; read again from the same ids.
          g.blocked = false;
          await new Promise((r) => setTimeout(r, 200));
          continue;
        } finally {
          g.blocked = false;
        }
        for (const [name, entries] of reply ?? []) {
          const w = g.streams.get(name);
          if (!w) continue;
          for (const [id, fields] of entries) {
            const e = toStoredEvent(id, fields);
            w.cursor = id;
            for (const l of w.listeners) {
              if (l.pending) l.pending.push(e);
              else this.push(l, e);
            }
          }
        }
      }
    } finally {
      g.running = false;
      // A stream may have joined between the last check and here.
      if (g.streams.size > 0 && [...g.streams.values()].some((w) => w.cursor)) void this.loop(g);
      else this.dropIfEmpty(g);
    }
  }

  private async catchUp(l: Listener): Promise<void> {
    l.pending ??= [];
    const history = await readEvents(this.command, l.stream, l.last);
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

  private remove(l: Listener): void {
    l.closed = true;
    const g = this.groups.get(this.cluster ? l.stream : '');
    const w = g?.streams.get(l.stream);
    if (!g || !w?.listeners.delete(l) || w.listeners.size > 0) return;
    // The blocked read may still name this stream; its entries then find no listener.
    g.streams.delete(l.stream);
    this.dropIfEmpty(g);
  }

  private dropIfEmpty(g: ReadGroup): void {
    if (!g.own || g.streams.size > 0) return;
    for (const [name, x] of this.groups) if (x === g) this.groups.delete(name);
    g.conn.disconnect();
  }
}
