// vLLM's response bytes: field order and null handling follow the repository's fixtures/
// (vllm_chat.json, vllm_chat_stream.sse, vllm_stream_error.sse). Chunks are built by string
// concatenation around a per-request prefix: cheaper than JSON.stringify of whole objects.

import type { ServerResponse } from 'node:http';
import { logprobEntry } from './features.js';
import type { ChatPlan, ChatWriter } from './protocol.js';

export const VLLM_VERSION = '0.28.0';
export const FINGERPRINT = `vllm-${VLLM_VERSION}-4e9b17c2`;
/** Gemma 3's <end_of_turn>: not the primary EOS, so vLLM reports it as stop_reason. */
const END_OF_TURN = 106;

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', server: 'uvicorn' };
// In-band errors are written with python's json.dumps: spaces after ',' and ':'.
const STREAM_ERROR =
  'data: {"error": {"message": "Internal server error", "type": "InternalServerError", "param": null, "code": 500}}\n\n';
const DONE = 'data: [DONE]\n\n';

export interface VllmIds {
  id: string;
  created: number;
}

/** The pieces of every choice: choice 0, then the others of `n`. */
const allChoices = (plan: ChatPlan): string[][] => [plan.pieces, ...(plan.more ?? [])];

/** completion_tokens counts the final <end_of_turn> when the model stopped on its own, for each choice. */
export function completionTokens(plan: ChatPlan): number {
  const eot = plan.finishReason === 'stop' ? 1 : 0;
  const tool = plan.toolCall ? Math.ceil(plan.toolCall.arguments.length / 4) : 0;
  return allChoices(plan).reduce((sum, p) => sum + p.length + eot, tool);
}

const logprobsOf = (plan: ChatPlan, pieces: string[]) =>
  plan.features?.logprobs
    ? { content: pieces.map((p, i) => logprobEntry(p, i, plan.features?.topLogprobs ?? 0)) }
    : null;

const finishOf = (plan: ChatPlan) => (plan.toolCall ? 'tool_calls' : plan.finishReason);

const toolCalls = (plan: ChatPlan) =>
  plan.toolCall
    ? [
        {
          id: plan.toolCall.id,
          type: 'function',
          function: { name: plan.toolCall.name, arguments: plan.toolCall.arguments },
        },
      ]
    : [];

export function vllmChatBody(plan: ChatPlan, ids: VllmIds): string {
  const completion = completionTokens(plan);
  return JSON.stringify({
    id: ids.id,
    object: 'chat.completion',
    created: ids.created,
    model: plan.model,
    choices: allChoices(plan).map((pieces, index) => ({
      index,
      message: {
        role: 'assistant',
        content: plan.toolCall ? null : pieces.join(''),
        refusal: null,
        annotations: null,
        audio: null,
        function_call: null,
        // The recorded plain reply has no tool_calls key at all.
        ...(plan.toolCall ? { tool_calls: toolCalls(plan) } : {}),
        reasoning: null,
      },
      logprobs: logprobsOf(plan, pieces),
      finish_reason: finishOf(plan),
      stop_reason: plan.finishReason === 'stop' && !plan.toolCall ? END_OF_TURN : null,
      token_ids: null,
      routed_experts: null,
    })),
    service_tier: null,
    system_fingerprint: FINGERPRINT,
    usage: {
      prompt_tokens: plan.promptTokens,
      total_tokens: plan.promptTokens + completion,
      completion_tokens: completion,
      prompt_tokens_details: null,
    },
    prompt_logprobs: null,
    prompt_token_ids: null,
    prompt_text: null,
    kv_transfer_params: null,
    ec_transfer_params: null,
    metrics: null,
  });
}

export class VllmWriter implements ChatWriter {
  private opened = false;
  private begun = false;
  private readonly prefix: string;

  constructor(
    private readonly plan: ChatPlan,
    private readonly res: ServerResponse,
    private readonly ids: VllmIds,
  ) {
    this.prefix =
      'data: {"id":' +
      JSON.stringify(ids.id) +
      ',"object":"chat.completion.chunk","created":' +
      ids.created +
      ',"model":' +
      JSON.stringify(plan.model) +
      ',"choices":[';
  }

  open(): void {
    if (this.opened) return;
    this.opened = true;
    this.res.writeHead(200, SSE_HEADERS);
    this.res.flushHeaders();
  }

  /** vLLM sends the role-only chunk when the first output arrives, not with the headers. */
  private begin(): void {
    if (this.begun) return;
    this.open();
    this.begun = true;
    this.res.write(
      this.prefix +
        '{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],' +
        '"prompt_token_ids":null,"prompt_text":null}\n\n',
    );
  }

  /** Streamed logprobs: the entry of piece i alone. */
  private logprobs(piece: string, i: number): string {
    const f = this.plan.features;
    return f?.logprobs ? JSON.stringify({ content: [logprobEntry(piece, i, f.topLogprobs)] }) : 'null';
  }

  private contentChunk(index: number, piece: string, i: number): void {
    this.res.write(
      this.prefix +
        '{"index":' +
        index +
        ',"delta":{"content":' +
        JSON.stringify(piece) +
        '},"logprobs":' +
        this.logprobs(piece, i) +
        ',"finish_reason":null,"token_ids":null}]}\n\n',
    );
  }

  piece(i: number): void {
    this.begin();
    const { pieces, finishReason, more } = this.plan;
    // The other choices of `n` advance in step with the first.
    if (more) for (const [j, p] of more.entries()) if (p[i] !== undefined) this.contentChunk(j + 1, p[i]!, i);
    // With finish_reason "length" the last piece rides on the finish chunk.
    if (finishReason === 'length' && i === pieces.length - 1) return;
    this.contentChunk(0, pieces[i]!, i);
  }

  /** The tool call as vLLM's parsers stream it: the name first, then the arguments. */
  private toolChunks(): void {
    const call = this.plan.toolCall;
    if (!call) return;
    const head = { index: 0, id: call.id, type: 'function', function: { name: call.name, arguments: '' } };
    for (const t of [head, { index: 0, function: { arguments: call.arguments } }]) {
      this.res.write(
        this.prefix +
          '{"index":0,"delta":{"tool_calls":[' +
          JSON.stringify(t) +
          ']},"logprobs":null,"finish_reason":null,"token_ids":null}]}\n\n',
      );
    }
  }

  finish(): void {
    const { plan, res } = this;
    if (!plan.stream) {
      const body = vllmChatBody(plan, this.ids);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        server: 'uvicorn',
      });
      res.end(body);
      return;
    }
    this.begin();
    this.toolChunks();
    // Another choice of `n` may run longer than the first.
    for (const [j, p] of (plan.more ?? []).entries())
      for (let i = plan.pieces.length; i < p.length; i++) this.contentChunk(j + 1, p[i]!, i);
    const stop = plan.finishReason === 'stop';
    const last = stop ? '' : (plan.pieces[plan.pieces.length - 1] ?? '');
    const tail = plan.includeUsage ? '}\n\n' : ',"system_fingerprint":"' + FINGERPRINT + '"}\n\n';
    for (let j = plan.more?.length ?? 0; j >= 0; j--) {
      const text = j === 0 ? last : '';
      res.write(
        this.prefix +
          '{"index":' +
          j +
          ',"delta":{"content":' +
          JSON.stringify(text) +
          '},"logprobs":' +
          (text === '' ? 'null' : this.logprobs(text, plan.pieces.length - 1)) +
          ',"finish_reason":"' +
          finishOf(plan) +
          '","stop_reason":' +
          (stop && !plan.toolCall ? END_OF_TURN : 'null') +
          ',"token_ids":null}]' +
          tail,
      );
    }
    if (plan.includeUsage) {
      const completion = completionTokens(plan);
      res.write(
        this.prefix +
          '],"usage":{"prompt_tokens":' +
          plan.promptTokens +
          ',"total_tokens":' +
          (plan.promptTokens + completion) +
          ',"completion_tokens":' +
          completion +
          '},"system_fingerprint":"' +
          FINGERPRINT +
          '"}\n\n',
      );
    }
    res.end(DONE);
  }

  streamError(): void {
    this.begin();
    this.res.write(STREAM_ERROR);
    this.res.end(DONE);
  }
}
