// Small node:http helpers shared by both protocols. No framework: the sim must stay far
// cheaper than the gateway it benchmarks.

import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** A complete response decided before any byte was written. */
export interface HttpReply {
  status: number;
  contentType: string;
  body: string;
}

export const JSON_TYPE = 'application/json';

export function jsonReply(status: number, body: unknown, contentType = JSON_TYPE): HttpReply {
  return { status, contentType, body: JSON.stringify(body) };
}

export function send(res: ServerResponse, r: HttpReply, extra?: OutgoingHttpHeaders): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(r.status, {
    ...extra,
    'content-type': r.contentType,
    'content-length': Buffer.byteLength(r.body),
  });
  res.end(r.body);
}

/** Reads the whole body as UTF-8; `done` is not called if the request errors (client gone). */
export function readBody(req: IncomingMessage, done: (text: string) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () =>
    done(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')),
  );
  req.on('error', () => {});
}

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a body; `error` holds JSON.parse's message when it is not JSON. */
export function parseJson(text: string): { value: unknown; error?: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    return { value: text, error: (err as Error).message };
  }
}

/** 16 hex chars, unique per process: a random prefix and a counter (no crypto per request). */
const ID_PREFIX = Math.floor(Math.random() * 0xffffffff)
  .toString(16)
  .padStart(8, '0');
let idCounter = Math.floor(Math.random() * 0xffff);
export function hexId16(): string {
  idCounter = (idCounter + 1) >>> 0;
  return ID_PREFIX + idCounter.toString(16).padStart(8, '0');
}
