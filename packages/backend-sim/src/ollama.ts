// Ollama's HTTP API (/api/*): stream defaults to true, num_ctx silently truncates history,
// errors are {"error":"text"}, unknown routes get Go's plain-text 404.

import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import {
  checkOllamaOptions,
  jsonPieces,
  lastUserText,
  ollamaJson,
  ollamaTool,
  Refusal,
  toolArguments,
} from './features.js';
import { type HttpReply, isObject, jsonReply, send } from './http.js';
import { toSimMessages } from './messages.js';
import { GIN_JSON, goTime, OLLAMA_VERSION, OllamaWriter } from './ollama-wire.js';
import type { ChatPlan, Protocol } from './protocol.js';
import { hashText, simReply } from './reply.js';
import type { SimState } from './state.js';
import { countSimTokens } from './tokenizer.js';
import type { SimMessage } from './types.js';

/** Ollama's default context when the request sends no options.num_ctx. */
export const DEFAULT_NUM_CTX = 2048;
const NOT_FOUND: HttpReply = { status: 404, contentType: 'text/plain', body: '404 page not found' };

function ollamaError(status: number, message: string): HttpReply {
  return jsonReply(status, { error: message }, GIN_JSON);
}

/** Go's json decoder messages, close enough for clients that only print them. */
function jsonSyntaxError(text: string): string {
  const c = text.trimStart()[0];
  if (c === undefined) return 'missing request body';
  if (!'{["-0123456789tfn'.includes(c)) return `invalid character '${c}' looking for beginning of value`;
  return 'unexpected EOF';
}

const goTypeOf = (v: unknown) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);

/** "gemma-3-27b-it" and "gemma-3-27b-it:latest" are the same model to Ollama. */
function normalize(name: string): string {
  return name.includes(':') ? name : `${name}:latest`;
}

function numOption(options: unknown, key: string): number | undefined {
  if (!isObject(options)) return undefined;
  const v = options[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Drops the oldest non-system messages (never the last one) until the prompt fits num_ctx. */
function fitContext(messages: SimMessage[], numCtx: number): { messages: SimMessage[]; truncated: boolean } {
  let total = countSimTokens(messages);
  if (total <= numCtx) return { messages, truncated: false };
  const kept = messages.slice();
  let i = 0;
  while (total > numCtx && i < kept.length - 1) {
    const m = kept[i]!;
    if (m.role === 'system') {
      i++;
      continue;
    }
    total -= countSimTokens([m]) - countSimTokens([]);
    kept.splice(i, 1);
  }
  return { messages: kept, truncated: true };
}

function parseChat(
  _h: IncomingHttpHeaders,
  body: unknown,
  parseError: string | undefined,
  state: SimState,
): ChatPlan | HttpReply {
  if (parseError !== undefined)
    return ollamaError(400, jsonSyntaxError(typeof body === 'string' ? body : ''));
  if (!isObject(body))
    return ollamaError(400, `json: cannot unmarshal ${goTypeOf(body)} into Go value of type api.ChatRequest`);
  const model = body['model'];
  if (typeof model !== 'string' || model === '') return ollamaError(400, 'model is required');
  const wanted = normalize(model);
  if (!state.models.some((m) => normalize(m) === wanted)) {
    return ollamaError(404, `model "${model}" not found, try pulling it first`);
  }
  const stream = body['stream'] !== false; // Ollama streams unless told not to
  const rawMessages = body['messages'];
  const base = { model, stream, includeUsage: false };
  if (
    rawMessages === undefined ||
    rawMessages === null ||
    (Array.isArray(rawMessages) && rawMessages.length === 0)
  ) {
    return { ...base, messages: [], pieces: [], finishReason: 'stop', promptTokens: 0, loadOnly: true };
  }
  const parsed = Array.isArray(rawMessages) ? toSimMessages(rawMessages) : undefined;
  if (!parsed) {
    return ollamaError(
      400,
      'json: cannot unmarshal into Go struct field ChatRequest.messages of type []api.Message',
    );
  }
  const optionError = checkOllamaOptions(body);
  if (optionError) return ollamaError(400, optionError);
  const keepAlive = body['keep_alive'];
  if (
    keepAlive !== undefined &&
    typeof keepAlive !== 'number' &&
    !(typeof keepAlive === 'string' && /^-?(\d+(\.\d+)?(ns|us|ms|s|m|h)?)+$/.test(keepAlive))
  ) {
    return ollamaError(400, `time: invalid duration "${String(keepAlive)}"`);
  }
  const json = ollamaJson(body);
  if (json instanceof Refusal) return ollamaError(400, json.message);
  const tool = ollamaTool(body);
  const numCtx = numOption(body['options'], 'num_ctx');
  const { messages, truncated } = fitContext(
    parsed,
    numCtx !== undefined && numCtx > 0 ? numCtx : DEFAULT_NUM_CTX,
  );
  const numPredict = numOption(body['options'], 'num_predict');
  const limit = numPredict !== undefined && numPredict > 0 ? numPredict : Number.POSITIVE_INFINITY;
  const { pieces, finishReason } = simReply(
    messages,
    limit,
    state.timing.replyTokens,
    state.timing.replyStyle,
  );
  const top = body['top_logprobs'];
  const lastUser = lastUserText(messages);
  return {
    ...base,
    messages,
    pieces: tool ? [] : json ? jsonPieces(json, pieces.join(''), pieces.length) : pieces,
    finishReason,
    promptTokens: countSimTokens(messages),
    truncatedByNumCtx: truncated,
    features: {
      n: 1,
      logprobs: body['logprobs'] === true,
      topLogprobs: typeof top === 'number' ? top : 0,
      ...(json ? { json } : {}),
      ...(tool ? { tool } : {}),
    },
    ...(tool
      ? {
          toolCall: {
            id: `call_${hashText(lastUser).toString(36)}`,
            name: tool,
            arguments: toolArguments(lastUser),
          },
        }
      : {}),
  };
}

function modelEntry(name: string, modified: string) {
  const full = normalize(name);
  return {
    name: full,
    model: full,
    modified_at: modified,
    size: 17_396_936_887,
    digest: createHash('sha256').update(full).digest('hex'),
    details: {
      parent_model: '',
      format: 'gguf',
      family: 'gemma3',
      families: ['gemma3'],
      parameter_size: '27.4B',
      quantization_level: 'Q4_K_M',
    },
  };
}

function tags(state: SimState): HttpReply {
  const modified = '2025-09-18T10:21:07.512342166+09:00';
  return jsonReply(200, { models: state.models.map((m) => modelEntry(m, modified)) }, GIN_JSON);
}

function ps(state: SimState): HttpReply {
  const expires = goTime(Date.now() + 5 * 60_000);
  const models = state.models.map((m) => {
    const { name, model, size, digest, details } = modelEntry(m, '');
    return {
      name,
      model,
      size,
      digest,
      details,
      expires_at: expires,
      size_vram: size,
      context_length: DEFAULT_NUM_CTX,
    };
  });
  return jsonReply(200, { models }, GIN_JSON);
}

function routeReply(method: string, path: string, state: SimState): HttpReply {
  // Gin without HandleMethodNotAllowed: a wrong method is a plain 404 too.
  if (method !== 'GET' && method !== 'HEAD') return NOT_FOUND;
  switch (path) {
    case '/':
      return { status: 200, contentType: 'text/plain; charset=utf-8', body: 'Ollama is running' };
    case '/api/tags':
      return tags(state);
    case '/api/version':
      return jsonReply(200, { version: OLLAMA_VERSION }, GIN_JSON);
    case '/api/ps':
      return ps(state);
    default:
      return NOT_FOUND;
  }
}

function route(req: IncomingMessage, res: ServerResponse, path: string, state: SimState): void {
  send(res, routeReply(req.method ?? 'GET', path, state));
}

export const ollamaProtocol: Protocol = {
  chatPath: '/api/chat',
  headersBeforeSlot: false,
  parseChat,
  writer: (plan, res) => new OllamaWriter(plan, res),
  internalError: () => ollamaError(500, 'llama runner process has terminated: exit status 2'),
  queueFull: () => ollamaError(503, 'server busy, please try again.  maximum pending requests exceeded'),
  route,
};
