// vLLM's error bodies ({"error":{message,type,param,code}} since v0.10.1) and the request
// checks shared by /v1/chat/completions and /tokenize.

import type { IncomingHttpHeaders } from 'node:http';
import { type HttpReply, jsonReply } from './http.js';
import type { SimState } from './state.js';

export const UVICORN = { server: 'uvicorn' };

export function vllmError(status: number, type: string, message: string, param: string | null): HttpReply {
  return jsonReply(status, { error: { message, type, param, code: status } });
}

/** FastAPI RequestValidationError as vLLM's handler reports it: type is the HTTP phrase. */
export function validation(detail: string, param: string | null = null): HttpReply {
  return vllmError(400, 'Bad Request', `1 validation error:\n  ${detail}\n`, param);
}

export const BAD_MEDIA = validation("Unsupported Media Type: Only 'application/json' is allowed");
export const BAD_JSON = validation(
  "{'type': 'json_invalid', 'loc': ('body', 0), 'msg': 'JSON decode error', 'input': {}, 'ctx': {'error': 'Expecting value'}}",
);
export const NOT_OBJECT = validation(
  "{'type': 'model_attributes_type', 'loc': ('body',), 'msg': 'Input should be a valid dictionary or object to extract fields from'}",
);
export const MISSING_MESSAGES = validation(
  "{'type': 'missing', 'loc': ('body', 'messages'), 'msg': 'Field required'}",
  'body.messages',
);
export const BAD_MESSAGES = validation(
  "{'type': 'list_type', 'loc': ('body', 'messages'), 'msg': 'Input should be a valid list'}",
  'body.messages',
);
export const STREAM_OPTIONS = validation(
  "{'type': 'value_error', 'loc': ('body',), 'msg': 'Value error, Stream options can only be defined when `stream=True`.'}",
  'stream_options',
);
export const ROLES = vllmError(
  400,
  'BadRequestError',
  'Conversation roles must alternate user/assistant/user/assistant/...',
  null,
);
export const INTERNAL = vllmError(500, 'InternalServerError', 'Internal server error', null);
export const NOT_FOUND = jsonReply(404, { detail: 'Not Found' });
export const NOT_ALLOWED = jsonReply(405, { detail: 'Method Not Allowed' });

export function isJson(headers: IncomingHttpHeaders): boolean {
  const ct = headers['content-type'];
  if (!ct) return false;
  const semi = ct.indexOf(';');
  return (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase() === 'application/json';
}

export function modelNotFound(model: string): HttpReply {
  return vllmError(404, 'NotFoundError', `The model \`${model}\` does not exist.`, 'model');
}

/** Resolves body.model: absent means the first served model. */
export function resolveModel(body: Record<string, unknown>, state: SimState): string | HttpReply {
  const m = body['model'];
  if (m === undefined || m === null) return state.models[0]!;
  if (typeof m !== 'string')
    return validation(
      "{'type': 'string_type', 'loc': ('body', 'model'), 'msg': 'Input should be a valid string'}",
    );
  return state.models.includes(m) ? m : modelNotFound(m);
}

export function contextError(maxLen: number, input: number, output: number): HttpReply {
  return vllmError(
    400,
    'BadRequestError',
    `This model's maximum context length is ${maxLen} tokens. However, you requested ${output} output tokens ` +
      `and your prompt contains ${input} input tokens, for a total of ${input + output} tokens. ` +
      'Please reduce the length of the input prompt or the number of requested output tokens. ' +
      `(parameter=input_tokens, value=${input})`,
    'input_tokens',
  );
}
