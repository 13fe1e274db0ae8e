/** Test-only HTTP server that replays recorded bytes in small, awkwardly split pieces. */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const CT = {
  json: 'application/json',
  sse: 'text/event-stream; charset=utf-8',
  ndjson: 'application/x-ndjson',
  html: 'text/html',
} as const;

export function fixture(name: string): Buffer {
  return readFileSync(new URL(`../../../../fixtures/${name}`, import.meta.url));
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type Handler = (req: RecordedRequest, res: ServerResponse) => void | Promise<void>;

export interface TestServer {
  url: string;
  requests: RecordedRequest[];
  /** Sockets opened so far (the server's 'connection' events). */
  connections(): number;
  /** Resolves when a response's connection closes before the handler finished writing. */
  closedEarly: Promise<void>;
  setHandler(h: Handler): void;
  close(): Promise<void>;
}

export async function startTestServer(handler: Handler): Promise<TestServer> {
  let current = handler;
  let sockets = 0;
  const requests: RecordedRequest[] = [];
  let markClosed: () => void = () => {};
  const closedEarly = new Promise<void>((r) => {
    markClosed = r;
  });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const rec: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(parts).toString('utf8'),
      };
      requests.push(rec);
      res.on('close', () => {
        if (!res.writableFinished) markClosed();
      });
      Promise.resolve(current(rec, res)).catch(() => res.destroy());
    });
  });
  server.on('connection', () => {
    sockets++;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    connections: () => sockets,
    closedEarly,
    setHandler: (h) => {
      current = h;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Cuts a body so the first multi-byte UTF-8 character arrives one byte per write, and the
 * rest in pieces of 1 to 13 bytes: network reads can end anywhere.
 */
export function awkwardPieces(buf: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  const lead = buf.findIndex((b) => b >= 0xc0);
  let i = 0;
  if (lead >= 0) {
    const charLen = (buf[lead] ?? 0) >= 0xf0 ? 4 : (buf[lead] ?? 0) >= 0xe0 ? 3 : 2;
    if (lead > 0) pieces.push(buf.subarray(0, lead));
    for (let k = 0; k < charLen; k++) pieces.push(buf.subarray(lead + k, lead + k + 1));
    i = lead + charLen;
  }
  const sizes = [1, 3, 7, 2, 13, 5, 11];
  for (let n = 0; i < buf.length; n++) {
    const size = sizes[n % sizes.length] ?? 1;
    pieces.push(buf.subarray(i, i + size));
    i += size;
  }
  return pieces;
}

/** Writes each piece as its own chunk, pausing so the client's reads see the cuts. */
export async function writeSlowly(res: ServerResponse, pieces: Buffer[], delayMs = 1): Promise<void> {
  for (const piece of pieces) {
    if (res.destroyed) return;
    res.write(piece);
    await sleep(piece.length === 1 ? delayMs * 5 : delayMs);
  }
}

export async function replay(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: Buffer | string,
  opts: { slow?: boolean; headers?: Record<string, string> } = {},
): Promise<void> {
  res.writeHead(status, { 'content-type': contentType, ...opts.headers });
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  if (opts.slow) await writeSlowly(res, awkwardPieces(buf));
  else res.write(buf);
  res.end();
}

export const userMessages = [
  { role: 'system' as const, content: '너는 친절한 대화 상대야. 짧게 답해.' },
  { role: 'user' as const, content: '안녕! 만나서 반가워.' },
];
