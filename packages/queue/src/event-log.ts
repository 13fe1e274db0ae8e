import type { JobEventName } from '@gateway/contracts';
import type { Redis } from 'ioredis';

/** One stored job event: `id` is the Redis Stream entry id (the SSE `id:`), `data` the JSON text. */
export interface StoredEvent {
  id: string;
  event: JobEventName;
  data: string;
}

const STREAM_ID = /^\d{1,16}-\d{1,16}$/;

export function isStreamId(value: string): boolean {
  return STREAM_ID.test(value);
}

/** Orders two stream ids ("ms-seq"). */
export function compareStreamIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  return Number(am) - Number(bm) || Number(as) - Number(bs);
}

/** An XRANGE/XREAD entry (`e` = event name, `d` = JSON text) as a stored event. */
export function toStoredEvent(id: string, fields: string[]): StoredEvent {
  let event = '';
  let data = '';
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'e') event = fields[i + 1] ?? '';
    else if (fields[i] === 'd') data = fields[i + 1] ?? '';
  }
  return { id, event: event as JobEventName, data };
}

/** Reads a job's events after `afterId` (exclusive; null = from the start), in pages. */
export async function readEvents(
  redis: Redis,
  stream: string,
  afterId: string | null,
): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  let start = afterId ? `(${afterId}` : '-';
  for (;;) {
    const page = (await redis.xrange(stream, start, '+', 'COUNT', 1000)) as [string, string[]][];
    for (const [id, fields] of page) out.push(toStoredEvent(id, fields));
    if (page.length < 1000) return out;
    start = `(${page[page.length - 1]![0]}`;
  }
}
