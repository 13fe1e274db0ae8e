// vLLM's endpoints other than chat: /v1/models, /health, /ping, /version, /load, /metrics,
// /tokenize, and FastAPI's 404 / 405 for everything else.

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { type HttpReply, hexId16, isObject, jsonReply, parseJson, readBody, send } from './http.js';
import { alternates, toSimMessages } from './messages.js';
import type { SimState } from './state.js';
import { countSimTokens, countTextTokens, fakeTokenIds } from './tokenizer.js';
import {
  BAD_JSON,
  BAD_MEDIA,
  BAD_MESSAGES,
  isJson,
  NOT_ALLOWED,
  NOT_FOUND,
  NOT_OBJECT,
  ROLES,
  resolveModel,
  UVICORN,
  validation,
} from './vllm-errors.js';
import { VLLM_VERSION } from './vllm-wire.js';

function modelsBody(state: SimState): string {
  const created = Math.floor(Date.now() / 1000);
  return JSON.stringify({
    object: 'list',
    data: state.models.map((id) => ({
      id,
      object: 'model',
      created,
      owned_by: 'vllm',
      root: id,
      parent: null,
      max_model_len: state.timing.maxModelLen,
      permission: [
        {
          id: `modelperm-${hexId16()}`,
          object: 'model_permission',
          created,
          allow_create_engine: false,
          allow_sampling: true,
          allow_logprobs: true,
          allow_search_indices: false,
          allow_view: true,
          allow_fine_tuning: false,
          organization: '*',
          group: null,
          is_blocking: false,
        },
      ],
    })),
  });
}

function tokenize(headers: IncomingHttpHeaders, text: string, state: SimState): HttpReply {
  if (!isJson(headers)) return BAD_MEDIA;
  const { value: body, error } = parseJson(text);
  if (error !== undefined) return BAD_JSON;
  if (!isObject(body)) return NOT_OBJECT;
  const model = resolveModel(body, state);
  if (typeof model !== 'string') return model;
  let count: number;
  const raw = body['messages'];
  if (Array.isArray(raw)) {
    const messages = toSimMessages(raw);
    if (!messages) return BAD_MESSAGES;
    if (!alternates(messages)) return ROLES;
    count = countSimTokens(messages);
  } else if (typeof body['prompt'] === 'string') {
    count = countTextTokens(body['prompt']) + (body['add_special_tokens'] === false ? 0 : 1);
  } else {
    return validation(
      "{'type': 'missing', 'loc': ('body', 'prompt'), 'msg': 'Field required'}",
      'body.prompt',
    );
  }
  // /tokenize does not enforce max_model_len, as in vLLM.
  return jsonReply(200, {
    count,
    max_model_len: state.timing.maxModelLen,
    tokens: fakeTokenIds(count),
    token_strs: null,
  });
}

function metrics(state: SimState): string {
  const s = state.stats();
  const labels = `{engine="0",model_name=${JSON.stringify(state.models[0])}}`;
  return (
    '# HELP vllm:num_requests_running Number of requests in model execution batches.\n' +
    '# TYPE vllm:num_requests_running gauge\n' +
    `vllm:num_requests_running${labels} ${s.generating}.0\n` +
    '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n' +
    '# TYPE vllm:num_requests_waiting gauge\n' +
    `vllm:num_requests_waiting${labels} ${s.waiting}.0\n`
  );
}

/** Routes other than chat: path -> allowed methods -> handler. */
export function vllmRoute(req: IncomingMessage, res: ServerResponse, path: string, state: SimState): void {
  const m = req.method ?? 'GET';
  const get = m === 'GET' || m === 'HEAD';
  const allow = (ok: boolean) => {
    if (!ok) send(res, NOT_ALLOWED, UVICORN);
    return ok;
  };
  switch (path) {
    case '/v1/models':
      if (allow(get))
        send(res, { status: 200, contentType: 'application/json', body: modelsBody(state) }, UVICORN);
      return;
    case '/health':
    case '/ping':
      if (allow(get || (path === '/ping' && m === 'POST'))) {
        res.writeHead(200, { 'content-length': 0, ...UVICORN });
        res.end();
      }
      return;
    case '/version':
      if (allow(get)) send(res, jsonReply(200, { version: VLLM_VERSION }), UVICORN);
      return;
    case '/load':
      if (allow(get))
        send(res, jsonReply(200, { server_load: state.slots.generating + state.slots.waiting }), UVICORN);
      return;
    case '/metrics':
      if (allow(get))
        send(res, {
          status: 200,
          contentType: 'text/plain; version=0.0.4; charset=utf-8',
          body: metrics(state),
        });
      return;
    case '/tokenize':
      if (allow(m === 'POST'))
        readBody(req, (text) => send(res, tokenize(req.headers, text, state), UVICORN));
      return;
    case '/v1/chat/completions':
      allow(false); // POST is handled by the chat flow
      return;
    default:
      send(res, NOT_FOUND, UVICORN);
  }
}
