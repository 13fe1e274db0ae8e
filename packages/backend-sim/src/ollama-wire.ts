// Ollama's response bytes (Go's encoding/json of api.ChatResponse: model, created_at, message,
// done_reason, done, then the metrics). Streams are NDJSON, one object per line.

import type { ServerResponse } from 'node:http';
import { logprobEntry } from './features.js';
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

  /** `,"logprobs":[…]` for the given pieces when they were asked for. */
  private logprobs(pieces: string[], from: number): string {
    const f = this.plan.features;
    if (!f?.logprobs || pieces.length === 0) return '';
    return ',"logprobs":' + JSON.stringify(pieces.map((p, k) => logprobEntry(p, from + k, f.topLogprobs)));
  }

  /** `,"tool_calls":[…]` of the message: Ollama sends the arguments as an object. */
  private toolCalls(): string {
    const call = this.plan.toolCall;
    if (!call) return '';
    return (
      ',"tool_calls":' +
      JSON.stringify([
        { id: call.id, function: { index: 0, name: call.name, arguments: JSON.parse(call.arguments) } },
      ])
    );
  }

  piece(i: number): void {
    this.open();
    this.firstToken ??= process.hrtime.bigint();
    const piece = this.plan.pieces[i]!;
    this.res.write(
      this.head +
        goTime() +
        '","message":{"role":"assistant","content":' +
        JSON.stringify(piece) +
        '},"done":false' +
        this.logprobs([piece], i) +
        '}\n',
    );
  }

  private final(content: string, streamed: boolean): string {
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
      (streamed ? '' : this.toolCalls()) +
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
      (streamed ? '' : this.logprobs(plan.pieces, 0)) +
      '}'
    );
  }

  finish(): void {
    const { plan, res } = this;
    if (plan.stream && !plan.loadOnly) {
      this.open();
      // A streamed tool call comes on its own line before the final one.
      if (plan.toolCall) {
        res.write(
          this.head +
            goTime() +
            '","message":{"role":"assistant","content":""' +
            this.toolCalls() +
            '},"done":false}\n',
        );
      }
      res.end(this.final('', true) + '\n');
      return;
    }
    const body = this.final(plan.pieces.join(''), false);
    res.writeHead(200, { 'content-type': GIN_JSON, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  streamError(): void {
    this.open();
    this.res.end(STREAM_ERROR);
  }
}
