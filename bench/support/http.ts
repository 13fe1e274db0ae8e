/** HTTP for the load generators: undici keep-alive pools, job submission, and a timestamping SSE reader. */
import { Pool } from 'undici';
import type { Session } from './gateway.js';
import { directBody } from './sim.js';
import { now } from './stats.js';

export const pool = (url: string, connections: number) =>
  new Pool(url, { connections, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000 });

export interface Submitted {
  jobId: string;
  /** performance.now() when the 202 arrived. */
  acceptedAt: number;
}

export async function submitJob(
  p: Pool,
  session: Session,
  message: string,
  extra: Record<string, unknown> = {},
): Promise<Submitted> {
  const res = await p.request({
    method: 'POST',
    path: '/chat/jobs',
    headers: { ...session.headers, 'content-type': 'application/json' },
    body: JSON.stringify({ message, tts: false, ...extra }),
  });
  const text = await res.body.text();
  if (res.statusCode !== 202) throw new Error(`POST /chat/jobs: ${res.statusCode} ${text.slice(0, 300)}`);
  return { jobId: (JSON.parse(text) as { job_id: string }).job_id, acceptedAt: now() };
}

export interface TimedEvent {
  event: string;
  data: string;
  /** performance.now() when the chunk holding the event's end arrived. */
  at: number;
}

/**
 * Reads an SSE response, calling `onEvent` for each event with its arrival time, until the stream
 * ends; `onEvent` returning true aborts it (that closes the connection). `path` is relative to the
 * pool's origin.
 */
export async function readSse(
  p: Pool,
  path: string,
  headers: Record<string, string>,
  onEvent: (e: TimedEvent) => boolean | undefined,
  method: 'GET' | 'POST' = 'GET',
  body?: string,
): Promise<void> {
  const res = await p.request({
    method,
    path,
    headers: {
      accept: 'text/event-stream',
      ...headers,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body,
  });
  if (res.statusCode !== 200) {
    throw new Error(`SSE ${path}: ${res.statusCode} ${(await res.body.text()).slice(0, 300)}`);
  }
  res.body.setEncoding('utf8');
  let buffer = '';
  try {
    for await (const chunk of res.body as AsyncIterable<string>) {
      const at = now();
      buffer += chunk;
      let sep = buffer.indexOf('\n\n');
      while (sep >= 0) {
        const block = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        sep = buffer.indexOf('\n\n');
        const e = parseBlock(block, at);
        if (e && onEvent(e) === true) return;
      }
    }
  } finally {
    if (!res.body.destroyed) res.body.destroy();
  }
}

function parseBlock(block: string, at: number): TimedEvent | null {
  let event = 'message';
  let data: string | null = null;
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data = data === null ? line.slice(6) : `${data}\n${line.slice(6)}`;
  }
  return data === null ? null : { event, data, at };
}

/** The text delta of an OpenAI-style chunk (`data: {...choices[0].delta.content}`), or '' for none. */
export function chunkContent(data: string): string {
  if (data === '[DONE]') return '';
  const c = (JSON.parse(data) as { choices?: { delta?: { content?: string | null } }[] }).choices?.[0];
  return c?.delta?.content ?? '';
}

/** Submits a job and follows its events until `reply` (or `done`); returns the events' arrival times. */
export async function submitAndFollow(
  api: Pool,
  sse: Pool,
  session: Session,
  message: string,
  onEvent?: (e: TimedEvent) => void,
): Promise<{
  jobId: string;
  acceptedAt: number;
  replyAt: number;
  firstTokenAt: number | null;
  status: string;
}> {
  const s = await submitJob(api, session, message);
  let replyAt = Number.NaN;
  let firstTokenAt: number | null = null;
  let status = 'unknown';
  await readSse(sse, `/chat/jobs/${s.jobId}/events`, session.headers, (e) => {
    onEvent?.(e);
    if (e.event === 'token' && firstTokenAt === null) firstTokenAt = e.at;
    if (e.event === 'reply') replyAt = e.at;
    // Read on to the end the server makes after `done`, so the connection is kept alive for reuse.
    if (e.event === 'done') status = (JSON.parse(e.data) as { status: string }).status;
    return undefined;
  });
  return { jobId: s.jobId, acceptedAt: s.acceptedAt, replyAt, firstTokenAt, status };
}

/**
 * Milliseconds from sending an OpenAI-style streaming chat request (to the simulator, the facade or a
 * peer gateway) to its first chunk that carries text.
 */
export async function timeToFirstChunk(
  p: Pool,
  headers: Record<string, string>,
  message: string,
): Promise<number> {
  const t0 = performance.now();
  let first = Number.NaN;
  await readSse(
    p,
    '/v1/chat/completions',
    headers,
    (e) => {
      if (Number.isNaN(first) && chunkContent(e.data)) first = e.at;
      return undefined;
    },
    'POST',
    directBody(message, true),
  );
  return first - t0;
}
