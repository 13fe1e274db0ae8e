// /sim/* endpoints, so a sim in another process (CLI, benchmarks) can be inspected and driven.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { type HttpReply, isObject, jsonReply, parseJson, readBody, send } from './http.js';
import type { SimState } from './state.js';
import type { SimConfig } from './types.js';

function currentConfig(state: SimState) {
  return {
    kind: state.kind,
    models: state.models,
    ...state.timing,
    capacity: state.capacity,
    // JSON has no Infinity: null means unlimited.
    maxQueue: Number.isFinite(state.maxQueue) ? state.maxQueue : null,
    paused: state.paused,
    faults: state.faults,
  };
}

function applyConfig(state: SimState, text: string): HttpReply {
  const { value, error } = parseJson(text);
  if (error !== undefined || !isObject(value)) return jsonReply(400, { error: 'body must be a JSON object' });
  const config = { ...value } as SimConfig & { maxQueue?: number | null };
  if (config.maxQueue === null) config.maxQueue = Number.POSITIVE_INFINITY;
  try {
    state.configure(config as SimConfig);
  } catch (err) {
    return jsonReply(400, { error: (err as Error).message });
  }
  return jsonReply(200, currentConfig(state));
}

/** Answers a /sim/* request. */
export function handleControl(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  state: SimState,
): void {
  const key = `${req.method} ${path}`;
  if (key === 'POST /sim/config') {
    readBody(req, (text) => send(res, applyConfig(state, text)));
    return;
  }
  if (key === 'POST /sim/reset') state.reset();
  send(res, controlReply(key, state));
}

function controlReply(key: string, state: SimState): HttpReply {
  switch (key) {
    case 'GET /sim/stats':
      return jsonReply(200, state.stats());
    case 'GET /sim/requests':
      return jsonReply(200, state.requests());
    case 'GET /sim/config':
      return jsonReply(200, currentConfig(state));
    case 'POST /sim/reset':
      return jsonReply(200, { ok: true });
    default:
      return jsonReply(404, { error: `no control endpoint ${key}` });
  }
}
