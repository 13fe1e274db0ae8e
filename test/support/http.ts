/** Small HTTP helpers for tests: JSON calls and an SSE reader that keeps event ids. */

export interface JsonResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export async function call<T = unknown>(
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<JsonResponse<T>> {
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: body as T };
}

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Reads an SSE stream until it ends (or `until` says stop); returns the events in order. */
export async function readSse(
  url: string,
  opts: {
    headers?: Record<string, string>;
    until?: (e: SseEvent, all: SseEvent[]) => boolean;
    signal?: AbortSignal;
  } = {},
): Promise<SseEvent[]> {
  const controller = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, controller.signal]) : controller.signal;
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...opts.headers }, signal });
  if (res.status !== 200 || !res.body)
    throw new Error(`SSE ${url}: status ${res.status}: ${await res.text()}`);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let sep = buffer.indexOf('\n\n');
      while (sep >= 0) {
        const block = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        sep = buffer.indexOf('\n\n');
        const e: SseEvent = { event: 'message', data: '' };
        let hasData = false;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'id') e.id = value;
          else if (field === 'event') e.event = value;
          else if (field === 'data') {
            e.data = hasData ? `${e.data}\n${value}` : value;
            hasData = true;
          }
        }
        if (!hasData) continue;
        events.push(e);
        if (opts.until?.(e, events)) {
          controller.abort();
          return events;
        }
      }
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err;
  }
  return events;
}

export const tokensOf = (events: SseEvent[]) =>
  events
    .filter((e) => e.event === 'token')
    .map((e) => (JSON.parse(e.data) as { delta: string }).delta)
    .join('');

export async function waitFor<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out; last value: ${JSON.stringify(v).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
