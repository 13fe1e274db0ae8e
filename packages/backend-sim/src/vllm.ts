// vLLM's OpenAI-compatible chat endpoint: request validation in vLLM's order (content type,
// body schema, model, chat template, context length).

import type { IncomingHttpHeaders } from 'node:http';
import {
  checkVllmContinue,
  checkVllmSampling,
  type Features,
  jsonPieces,
  lastUserText,
  morePieces,
  Refusal,
  toolArguments,
  vllmJson,
  vllmTool,
} from './features.js';
import { type HttpReply, hexId16, isObject } from './http.js';
import { alternates, toSimMessages } from './messages.js';
import type { ChatPlan, Protocol } from './protocol.js';
import { simReply } from './reply.js';
import type { SimState } from './state.js';
import { countSimTokens } from './tokenizer.js';
import type { SimMessage } from './types.js';
import {
  BAD_JSON,
  BAD_MEDIA,
  BAD_MESSAGES,
  contextError,
  INTERNAL,
  isJson,
  MISSING_MESSAGES,
  NOT_OBJECT,
  ROLES,
  resolveModel,
  STREAM_OPTIONS,
  validation,
  vllmError,
} from './vllm-errors.js';
import { vllmRoute } from './vllm-routes.js';
import { VllmWriter } from './vllm-wire.js';

function parseChat(
  headers: IncomingHttpHeaders,
  body: unknown,
  parseError: string | undefined,
  state: SimState,
): ChatPlan | HttpReply {
  if (!isJson(headers)) return BAD_MEDIA;
  if (parseError !== undefined) return BAD_JSON;
  if (!isObject(body)) return NOT_OBJECT;
  const rawMessages = body['messages'];
  if (rawMessages === undefined) return MISSING_MESSAGES;
  if (!Array.isArray(rawMessages)) return BAD_MESSAGES;
  const messages = toSimMessages(rawMessages);
  if (!messages) return BAD_MESSAGES;
  const stream = body['stream'] === true;
  const streamOptions = body['stream_options'];
  if (streamOptions !== undefined && streamOptions !== null && !stream) return STREAM_OPTIONS;
  // max_completion_tokens wins over max_tokens; the error names the one used.
  const mct = body['max_completion_tokens'];
  const name = mct !== undefined && mct !== null ? 'max_completion_tokens' : 'max_tokens';
  const maxRaw = body[name];
  let maxTokens: number | undefined;
  if (maxRaw !== undefined && maxRaw !== null) {
    if (typeof maxRaw !== 'number' || !Number.isInteger(maxRaw)) {
      return validation(
        `{'type': 'int_type', 'loc': ('body', '${name}'), 'msg': 'Input should be a valid integer'}`,
      );
    }
    if (maxRaw < 1)
      return vllmError(400, 'BadRequestError', `${name} must be at least 1, got ${maxRaw}.`, name);
    maxTokens = maxRaw;
  }
  const model = resolveModel(body, state);
  if (typeof model !== 'string') return model;
  const refused = (r: Refusal) => vllmError(400, 'BadRequestError', r.message, r.param);
  const sampling = checkVllmSampling(body);
  if (sampling) return refused(sampling);
  const cont = checkVllmContinue(body, messages[messages.length - 1]?.role);
  if (cont) return refused(cont);
  const tool = vllmTool(body, state.autoToolChoice);
  if (tool instanceof Refusal) return refused(tool);
  const json = vllmJson(body);
  if (json instanceof Refusal) return refused(json);
  if (!alternates(messages)) return ROLES;
  const promptTokens = countSimTokens(messages);
  const { maxModelLen, replyTokens, replyStyle } = state.timing;
  if (promptTokens + (maxTokens ?? 0) > maxModelLen)
    return contextError(maxModelLen, promptTokens, maxTokens ?? 0);
  const limit = maxTokens ?? maxModelLen - promptTokens;
  const reply = (m: SimMessage[]) => simReply(m, limit, replyTokens, replyStyle);
  const first = reply(messages);
  const n = typeof body['n'] === 'number' ? body['n'] : 1;
  const features: Features = {
    n,
    logprobs: body['logprobs'] === true,
    topLogprobs: typeof body['top_logprobs'] === 'number' ? body['top_logprobs'] : 0,
    ...(json ? { json } : {}),
    ...(typeof tool === 'string' ? { tool } : {}),
  };
  const asJson = (pieces: string[]) =>
    features.json ? jsonPieces(features.json, pieces.join(''), pieces.length) : pieces;
  const lastUser = lastUserText(messages);
  const requestId = headers['x-request-id'];
  return {
    model,
    stream,
    messages,
    pieces: typeof tool === 'string' ? [] : asJson(first.pieces),
    finishReason: first.finishReason,
    promptTokens,
    includeUsage: stream && isObject(streamOptions) && streamOptions['include_usage'] === true,
    requestId: typeof requestId === 'string' && requestId !== '' ? requestId : undefined,
    features,
    ...(n > 1 ? { more: morePieces(n, lastUser, (m) => asJson(reply(m).pieces)) } : {}),
    ...(typeof tool === 'string'
      ? { toolCall: { id: `chatcmpl-tool-${hexId16()}`, name: tool, arguments: toolArguments(lastUser) } }
      : {}),
  };
}

export const vllmProtocol: Protocol = {
  chatPath: '/v1/chat/completions',
  headersBeforeSlot: true,
  parseChat,
  writer: (plan, res) =>
    new VllmWriter(plan, res, {
      id: `chatcmpl-${plan.requestId ?? hexId16()}`,
      created: Math.floor(Date.now() / 1000),
    }),
  internalError: () => INTERNAL,
  queueFull: () =>
    vllmError(
      503,
      'ServiceUnavailableError',
      'The server is overloaded: too many requests are waiting. Please try again later.',
      null,
    ),
  route: vllmRoute,
};
