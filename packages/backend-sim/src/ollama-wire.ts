// Ollama's response bytes (Go's encoding/json of api.ChatResponse: model, created_at, message,
// done_reason, done, then the metrics). Streams are NDJSON, one object per line.

import type { ServerResponse } from 'node:http';
import type { ChatPlan, ChatWriter } from './protocol.js';

export const OLLAMA_VERSION = '0.12.0';
/** Gin's c.JSON content type, used for every non-streamed body including errors. */
export const GIN_JSON = 'application/json; charset=utf-8';
const STREAM_ERROR = '{"error":"an error was encountered while running the model"}\n';

/** Go's time.Time JSON: RFC 3339 with sub-millisecond digits. */
let cachedMs = -1;
let cachedIso = '';
export function goTime(ms = Date.now()): string {
  // Streams stamp every piece: format the millisecond part once per ms.
  if (ms !== cachedMs) {
    cachedMs = ms;
    cachedIso = new Date(ms).toISOString().slice(0, -1);
  }
  const micros = String(Math.floor(performance.now() * 1000) % 1000).padStart(3, '0');
  return cachedIso + micros + 'Z';
}

function nsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start);
}

export class OllamaWriter implements ChatWriter {
  private opened = false;
  private readonly start = process.hrtime.bigint();
  private firstToken: bigint | undefined;
  private readonly head: string;

  constructor(
    private readonly plan: ChatPlan,
    private readonly res: ServerResponse,
  ) {
    this.head = '{"model":' + JSON.stringify(plan.model) + ',"created_at":"';
  }

  open(): void {
    if (this.opened) return;
    this.opened = true;
    this.res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  }

  piece(i: number): void {
    this.open();
    this.firstToken ??= process.hrtime.bigint();
    this.res.write(
      this.head +
        goTime() +
        '","message":{"role":"assistant","content":' +
        JSON.stringify(this.plan.pieces[i]) +
        '},"done":false}\n',
    );
  }

  private final(content: string): string {
    const { plan } = this;
    if (plan.loadOnly) {
      return (
        this.head +
        goTime() +
        '","message":{"role":"assistant","content":""},"done_reason":"load","done":true}'
      );
    }
    const total = nsSince(this.start);
    const load = Math.min(total, 52_000);
    // Not streamed: no first-token time was seen; charge a tenth of the time to the prompt.
    const promptEval =
      this.firstToken === undefined ? Math.floor(total / 10) : Number(this.firstToken - this.start);
    return (
      this.head +
      goTime() +
      '","message":{"role":"assistant","content":' +
      JSON.stringify(content) +
      '},"done_reason":"' +
      plan.finishReason +
      '","done":true,"total_duration":' +
      total +
      ',"load_duration":' +
      load +
      ',"prompt_eval_count":' +
      plan.promptTokens +
      ',"prompt_eval_duration":' +
      promptEval +
      ',"eval_count":' +
      plan.pieces.length +
      ',"eval_duration":' +
      Math.max(0, total - promptEval - load) +
      '}'
    );
  }

  finish(): void {
    const { plan, res } = this;
    if (plan.stream && !plan.loadOnly) {
      this.open();
      res.end(this.final('') + '\n');
      return;
    }
    const body = this.final(plan.pieces.join(''));
    res.writeHead(200, { 'content-type': GIN_JSON, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  streamError(): void {
    this.open();
    this.res.end(STREAM_ERROR);
  }
}
