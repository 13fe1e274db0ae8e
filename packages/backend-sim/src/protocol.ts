// The seam between the shared request flow (chat.ts, server.ts) and one backend's wire format.

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Features } from './features.js';
import type { HttpReply } from './http.js';
import type { SimState } from './state.js';
import type { SimMessage } from './types.js';

/** A validated chat request, with the reply it will get. */
export interface ChatPlan {
  model: string;
  stream: boolean;
  /** Messages the model sees (after Ollama's num_ctx truncation). */
  messages: SimMessage[];
  pieces: string[];
  finishReason: 'stop' | 'length';
  promptTokens: number;
  /** vLLM stream_options.include_usage. */
  includeUsage: boolean;
  /** vLLM: X-Request-Id header, used in the completion id as vLLM does. */
  requestId?: string;
  truncatedByNumCtx?: boolean;
  /** Ollama: no messages at all means "load the model"; answered at once, no slot. */
  loadOnly?: boolean;
  /** n, logprobs, structured output, tools (absent: plain text, one choice). */
  features?: Features;
  /** The pieces of choices 1..n-1 (vLLM `n`). */
  more?: string[][];
  /** The reply calls a tool instead of answering in text. */
  toolCall?: { id: string; name: string; arguments: string };
}

/** Writes one chat response. Methods run in order: open? piece* (finish | streamError). */
export interface ChatWriter {
  /** Sends the status line and headers of a stream (idempotent). */
  open(): void;
  /** Streams piece i (streaming requests only). */
  piece(i: number): void;
  /** Ends the response successfully (the whole body when not streaming). */
  finish(): void;
  /** Ends a started stream with the backend's in-band error. */
  streamError(): void;
}

export interface Protocol {
  readonly chatPath: string;
  /** vLLM sends stream headers as soon as a request is accepted, before it gets a slot. */
  readonly headersBeforeSlot: boolean;
  parseChat(
    headers: IncomingHttpHeaders,
    body: unknown,
    parseError: string | undefined,
    state: SimState,
  ): ChatPlan | HttpReply;
  writer(plan: ChatPlan, res: ServerResponse, state: SimState): ChatWriter;
  /** 500 before any byte. */
  internalError(): HttpReply;
  /** Wait list full. */
  queueFull(): HttpReply;
  /** Every other route; answers unknown routes itself. */
  route(req: IncomingMessage, res: ServerResponse, path: string, state: SimState): void;
}

export function isReply(v: ChatPlan | HttpReply): v is HttpReply {
  return 'status' in v;
}
