import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildWav } from '../wav.js';

/** A stand-in TTS server for tests: records each request and answers what the test says. */

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: unknown;
  at: number;
}

export interface StandInReply {
  status?: number;
  body?: Buffer | string | Record<string, unknown>;
  contentType?: string;
  delayMs?: number;
}

export type StandInHandler = (req: RecordedRequest, n: number) => StandInReply | Promise<StandInReply>;

export interface TtsStandIn {
  url: string;
  requests: RecordedRequest[];
  handle(fn: StandInHandler): void;
  close(): Promise<void>;
}

/** 16-bit mono PCM WAV of a quiet tone, `seconds` long. */
export function toneWav(seconds: number, sampleRate = 24_000): Buffer {
  const n = Math.round(seconds * sampleRate);
  const pcm = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++)
    pcm.writeInt16LE(Math.round(2_000 * Math.sin((2 * Math.PI * 440 * i) / sampleRate)), i * 2);
  return buildWav(
    { audioFormat: 1, channels: 1, sampleRate, bitsPerSample: 16, blockAlign: 2, byteRate: sampleRate * 2 },
    [pcm],
  );
}

/** Speech-like default: a WAV 60 ms per input character. */
export const speakLength: StandInHandler = (req) => {
  const input = (req.body as { input?: string; text?: string } | null) ?? {};
  const text = input.input ?? input.text ?? '';
  return { status: 200, body: toneWav(Math.max(0.1, [...text].length * 0.06)), contentType: 'audio/wav' };
};

export async function startTtsStandIn(handler: StandInHandler = speakLength): Promise<TtsStandIn> {
  let current = handler;
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const raw = Buffer.concat(parts).toString('utf8');
      let body: unknown = null;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        body = raw;
      }
      const rec: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body,
        at: Date.now(),
      };
      requests.push(rec);
      const r = await current(rec, requests.length - 1);
      if (r.delayMs) await new Promise((ok) => setTimeout(ok, r.delayMs));
      if (res.destroyed) return;
      const payload =
        r.body === undefined
          ? Buffer.alloc(0)
          : Buffer.isBuffer(r.body)
            ? r.body
            : Buffer.from(typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
      const type =
        r.contentType ??
        (r.body !== undefined && !Buffer.isBuffer(r.body) && typeof r.body === 'object'
          ? 'application/json'
          : 'audio/wav');
      res.writeHead(r.status ?? 200, { 'content-type': type, 'content-length': payload.length });
      res.end(payload);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    handle(fn) {
      current = fn;
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
