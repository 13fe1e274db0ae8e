// vLLM's response bytes: field order and null handling follow the repository's fixtures/
// (vllm_chat.json, vllm_chat_stream.sse, vllm_stream_error.sse). Chunks are built by string
// concatenation around a per-request prefix: cheaper than JSON.stringify of whole objects.

import type { ServerResponse } from 'node:http';
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

/** completion_tokens counts the final <end_of_turn> when the model stopped on its own. */
export function completionTokens(plan: ChatPlan): number {
  return plan.pieces.length + (plan.finishReason === 'stop' ? 1 : 0);
}

export function vllmChatBody(plan: ChatPlan, ids: VllmIds): string {
  const completion = completionTokens(plan);
  return JSON.stringify({
    id: ids.id,
    object: 'chat.completion',
    created: ids.created,
    model: plan.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: plan.pieces.join(''),
          refusal: null,
          annotations: null,
          audio: null,
          function_call: null,
          reasoning: null,
        },
        logprobs: null,
        finish_reason: plan.finishReason,
        stop_reason: plan.finishReason === 'stop' ? END_OF_TURN : null,
        token_ids: null,
        routed_experts: null,
      },
    ],
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

  piece(i: number): void {
    this.begin();
    const { pieces, finishReason } = this.plan;
    // With finish_reason "length" the last piece rides on the finish chunk.
    if (finishReason === 'length' && i === pieces.length - 1) return;
    this.res.write(
      this.prefix +
        '{"index":0,"delta":{"content":' +
        JSON.stringify(pieces[i]) +
        '},"logprobs":null,"finish_reason":null,"token_ids":null}]}\n\n',
    );
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
    const stop = plan.finishReason === 'stop';
    const last = stop ? '' : (plan.pieces[plan.pieces.length - 1] ?? '');
    const tail = plan.includeUsage ? '}\n\n' : ',"system_fingerprint":"' + FINGERPRINT + '"}\n\n';
    res.write(
      this.prefix +
        '{"index":0,"delta":{"content":' +
        JSON.stringify(last) +
        '},"logprobs":null,"finish_reason":"' +
        plan.finishReason +
        '","stop_reason":' +
        (stop ? END_OF_TURN : 'null') +
        ',"token_ids":null}]' +
        tail,
    );
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
