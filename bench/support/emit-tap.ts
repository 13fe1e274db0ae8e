/**
 * Timestamps each content piece the in-process simulator writes, so token delivery delay can be
 * measured as (client receive - simulator emit) on one clock. It wraps `http.Server#emit` for chat
 * requests while installed: the request body is read alongside the simulator (a second 'data'
 * listener) to learn which job it serves, and that response's `write` is wrapped to note each piece.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { now } from './stats.js';

export interface Emission {
  /** performance.now() of the write. */
  at: number;
  /** Characters of reply text written so far, this piece included. */
  upTo: number;
}

export interface EmitTap {
  /** Emissions per request, keyed by the content of the request's last user message. */
  byMessage: Map<string, Emission[]>;
  uninstall(): void;
}

const CONTENT = '"delta":{"content":';

export function installEmitTap(path = '/v1/chat/completions'): EmitTap {
  const byMessage = new Map<string, Emission[]>();
  const original = http.Server.prototype.emit;
  function tapped(this: http.Server, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'request') {
      const [req, res] = args as [IncomingMessage, ServerResponse];
      if (req.method === 'POST' && req.url === path) tap(req, res);
    }
    return Reflect.apply(original, this, [event, ...args]) as boolean;
  }
  const tap = (req: IncomingMessage, res: ServerResponse) => {
    const emissions: Emission[] = [];
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      try {
        const msgs = (JSON.parse(body) as { messages: { role: string; content: string }[] }).messages;
        const user = msgs.filter((m) => m.role === 'user').at(-1);
        if (user) byMessage.set(user.content, emissions);
      } catch {
        // not a chat body: ignore
      }
    });
    let upTo = 0;
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (typeof chunk === 'string') {
        const at = now();
        const i = chunk.indexOf(CONTENT);
        if (i >= 0) {
          const line = chunk.startsWith('data: ') ? chunk.slice(6).trim() : '';
          const text = line ? contentOf(line) : '';
          if (text.length > 0) {
            upTo += text.length;
            emissions.push({ at, upTo });
          }
        }
      }
      return write(chunk, ...rest);
    }) as ServerResponse['write'];
  };
  http.Server.prototype.emit = tapped as typeof original;
  return {
    byMessage,
    uninstall() {
      http.Server.prototype.emit = original;
    },
  };
}

function contentOf(json: string): string {
  const c = (JSON.parse(json) as { choices?: { delta?: { content?: string } }[] }).choices?.[0];
  return c?.delta?.content ?? '';
}

/**
 * Delay of every piece: for each emission, the arrival time of the first received chunk whose
 * cumulative text length reaches it. `received` is the client's (arrival time, cumulative length) list.
 */
export function pieceDelays(emitted: Emission[], received: Emission[]): number[] {
  const out: number[] = [];
  let j = 0;
  for (const e of emitted) {
    while (j < received.length && received[j]!.upTo < e.upTo) j++;
    if (j === received.length) break;
    out.push(received[j]!.at - e.at);
  }
  return out;
}
