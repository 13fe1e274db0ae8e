import { readFileSync } from 'node:fs';
import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import { connect } from 'node:net';

/**
 * Raw HTTP for the fuzz tests: fetch refuses invalid UTF-8 in some places, odd methods, forbidden
 * headers and bytes that are not HTTP at all, so requests go out through node:http or, for bytes
 * node:http would refuse to send, a bare socket.
 */
export interface FuzzRequest {
  method: string;
  /** Already encoded: sent exactly as given. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** When set, these bytes are written to a socket as the whole request (method, path, headers ignored). */
  raw?: Buffer;
  /** The raw bytes stop mid-request: the server may wait for the rest and then drop the connection. */
  incomplete?: boolean;
  /** What the generator meant by this request, for failure messages. */
  label: string;
}

export interface FuzzResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** An event stream: only its first bytes were read. */
  stream: boolean;
}

export type FuzzOutcome = { ok: true; res: FuzzResponse } | { ok: false; error: string };

const agent = new Agent({ keepAlive: true, maxSockets: 32 });

export function closeAgent(): void {
  agent.destroy();
}

/** Sends one request; a stream (SSE) is cut after its first chunk; no answer within `timeoutMs` is an error. */
export function send(base: URL, req: FuzzRequest, timeoutMs = 15_000): Promise<FuzzOutcome> {
  if (req.raw) return sendRaw(base, req.raw, timeoutMs);
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const done = (o: FuzzOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    let r: ReturnType<typeof request>;
    try {
      r = request({
        host: base.hostname,
        port: base.port,
        method: req.method,
        path: req.path,
        // GET, DELETE and friends get no framing from node:http: without a length, body bytes would be read
        // as the next request.
        headers: wireHeaders(req),
        agent,
        // Odd answers are for our assertions to judge, not for the client to refuse.
        insecureHTTPParser: true,
      });
    } catch (err) {
      done({ ok: false, error: `the test client could not send this: ${(err as Error).message}` });
      return;
    }
    timer = setTimeout(() => {
      r.destroy();
      done({ ok: false, error: `no answer in ${timeoutMs} ms` });
    }, timeoutMs);
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      const stream = String(res.headers['content-type'] ?? '').startsWith('text/event-stream');
      const finish = () =>
        done({
          ok: true,
          res: { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), stream },
        });
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        if (stream) {
          res.destroy();
          finish();
        }
      });
      res.on('end', finish);
      res.on('error', finish);
      res.on('close', finish);
    });
    // After an early answer (413) the server may close while we still write: the answer is what counts.
    r.on('error', (err) => setImmediate(() => done({ ok: false, error: `${err.name}: ${err.message}` })));
    r.end(req.body);
  });
}

/**
 * Header values as node:http will send them: latin1 text goes out byte for byte (so `\u00ff` is the
 * invalid UTF-8 byte 0xff), other text as its UTF-8 bytes, and the bytes node:http refuses (CR, LF,
 * NUL and other controls) become `?`; raw requests cover those.
 */
function wireHeaders(req: FuzzRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    const latin1 = [...v].every((c) => c.charCodeAt(0) <= 0xff);
    const bytes = latin1 ? v : Buffer.from(v, 'utf8').toString('latin1');
    out[k] = bytes.replaceAll(/[^\t\x20-\x7e\x80-\xff]/g, '?');
  }
  if (req.body) out['content-length'] = String(req.body.length);
  return out;
}

/** Writes `bytes` to a fresh connection and parses whatever HTTP answer comes back before it closes. */
function sendRaw(base: URL, bytes: Buffer, timeoutMs: number): Promise<FuzzOutcome> {
  return new Promise((resolve) => {
    const socket = connect(Number(base.port), base.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    let failure: string | null = null;
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const parsed = parseResponse(Buffer.concat(chunks));
      // A complete answer: stop here, whether or not the server keeps the connection open.
      if (parsed?.complete) socket.destroy();
    });
    socket.on('error', (err) => {
      failure = err.message;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const parsed = parseResponse(Buffer.concat(chunks));
      if (parsed) resolve({ ok: true, res: parsed.res });
      else resolve({ ok: false, error: failure ?? 'connection closed without an answer' });
    });
    // Write without half-closing: Node drops a connection whose client half-closed before the answer
    // (seen with Expect: 100-continue). Only a request still unanswered after a while is ended.
    socket.write(bytes);
    setTimeout(() => socket.end(), 1_000).unref();
  });
}

function parseResponse(whole: Buffer): { res: FuzzResponse; complete: boolean } | null {
  let buf = whole;
  // Interim answers (100 Continue) come before the real one.
  while (/^HTTP\/1\.[01] 1\d\d /.test(buf.subarray(0, 16).toString('latin1'))) {
    const next = buf.indexOf('\r\n\r\n');
    if (next < 0) return null;
    buf = buf.subarray(next + 4);
  }
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!m) return null;
  const headers: IncomingHttpHeaders = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = buf.subarray(end + 4);
  const length = Number(headers['content-length'] ?? Number.NaN);
  let complete = Number.isFinite(length) && body.length >= length;
  if (headers['transfer-encoding'] === 'chunked') {
    const text = body.toString('latin1');
    complete = /(^|\r\n)0\r\n\r\n$/.test(text);
    body = Buffer.from(dechunk(text), 'latin1');
  }
  return { res: { status: Number(m[1]), headers, body, stream: false }, complete };
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    if (eol < 0) return out;
    const size = Number.parseInt(rest.slice(0, eol), 16);
    if (!Number.isFinite(size) || size === 0) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

/** Resident memory of a process in bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}
