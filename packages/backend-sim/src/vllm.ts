// vLLM's OpenAI-compatible chat endpoint: request validation in vLLM's order (content type,
// body schema, model, chat template, context length).

import type { IncomingHttpHeaders } from 'node:http';
import { type HttpReply, hexId16, isObject } from './http.js';
import { alternates, toSimMessages } from './messages.js';
import type { ChatPlan, Protocol } from './protocol.js';
import { simReply } from './reply.js';
import type { SimState } from './state.js';
import { countSimTokens } from './tokenizer.js';
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
  if (!alternates(messages)) return ROLES;
  const promptTokens = countSimTokens(messages);
  const { maxModelLen, replyTokens, replyStyle } = state.timing;
  if (promptTokens + (maxTokens ?? 0) > maxModelLen)
    return contextError(maxModelLen, promptTokens, maxTokens ?? 0);
  const { pieces, finishReason } = simReply(
    messages,
    maxTokens ?? maxModelLen - promptTokens,
    replyTokens,
    replyStyle,
  );
  const requestId = headers['x-request-id'];
  return {
    model,
    stream,
    messages,
    pieces,
    finishReason,
    promptTokens,
    includeUsage: stream && isObject(streamOptions) && streamOptions['include_usage'] === true,
    requestId: typeof requestId === 'string' && requestId !== '' ? requestId : undefined,
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
