import { type ErrorCode, GatewayError } from '@gateway/contracts';
import type { LlmService } from './types.js';

/** What a backend error body says, whichever of the known shapes it came in. */
export interface BackendErrorInfo {
  message: string;
  type?: string;
  param?: string;
}

const MAX_MESSAGE_CHARS = 2000;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function fromObject(o: Record<string, unknown>): BackendErrorInfo | null {
  const message = str(o['message']);
  if (message === undefined) return null;
  const info: BackendErrorInfo = { message };
  const type = str(o['type']);
  const param = str(o['param']);
  if (type !== undefined) info.type = type;
  if (param !== undefined) info.param = param;
  return info;
}

/**
 * Reads the four vLLM shapes (`{"error":{message,…}}`, flat `{"object":"error","message",…}`,
 * `{"error":"text"}`, `{"detail":"text"}`) and Ollama's `{"error":"text"}`. Anything else
 * (HTML proxy pages, plain text) is kept as a trimmed snippet so the log still says something.
 */
export function extractBackendError(bodyText: string): BackendErrorInfo {
  const text = bodyText.trim();
  if (text === '') return { message: '' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { message: snippet(text) };
  }
  if (isRecord(parsed)) {
    const err = parsed['error'];
    if (typeof err === 'string') return { message: err };
    if (isRecord(err)) {
      const info = fromObject(err);
      if (info) return info;
    }
    const flat = fromObject(parsed);
    if (flat) return flat;
    const detail = parsed['detail'];
    if (typeof detail === 'string') return { message: detail };
    // FastAPI validation errors put a list in `detail`.
    if (detail !== undefined) return { message: snippet(JSON.stringify(detail)) };
  }
  return { message: snippet(text) };
}

function snippet(text: string): string {
  // HTML error pages are mostly markup; the <title> is the useful part.
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1]?.trim();
  const plain =
    title ||
    text
      .replace(/<[^>]*>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim();
  return plain.length > MAX_MESSAGE_CHARS ? `${plain.slice(0, MAX_MESSAGE_CHARS)}…` : plain;
}

/** vLLM has reworded this error several times; the fixtures README lists the variants. */
export function isContextLengthError(info: BackendErrorInfo): boolean {
  if (info.param === 'input_tokens' || info.param === 'input_text') return true;
  const m = info.message.toLowerCase();
  return (
    m.includes('maximum context length') ||
    m.includes('context length is only') ||
    m.includes('parameter=input_tokens') ||
    m.includes('parameter=input_text') ||
    m.includes('input_tokens')
  );
}

function isModelNotFound(info: BackendErrorInfo): boolean {
  if (info.param === 'model' || info.type === 'NotFoundError') return true;
  return /model/i.test(info.message) && /(not found|does not exist)/i.test(info.message);
}

/** Seconds from a Retry-After header (delta-seconds or HTTP date); undefined when absent/invalid. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

function codeFor(status: number, info: BackendErrorInfo): ErrorCode {
  if (status === 503 || status === 429) return 'backend_busy';
  if (status >= 500) return 'backend_server_error';
  if (status === 401 || status === 403) return 'backend_unauthorized';
  if (status === 408) return 'backend_timeout';
  if (status === 404) return isModelNotFound(info) ? 'model_not_found' : 'backend_bad_request';
  if ((status === 400 || status === 413 || status === 422) && isContextLengthError(info)) {
    return 'context_too_long';
  }
  return 'backend_bad_request';
}

/**
 * Maps a non-2xx backend response to a GatewayError. The status decides the code (a 502 HTML
 * page from a proxy is a server error, worth a retry); the body only supplies the message and,
 * for 400/404, tells context-length and unknown-model errors apart.
 */
export function parseBackendError(
  status: number,
  bodyText: string,
  service: LlmService,
  opts: { retryAfter?: string | string[] | undefined } = {},
): GatewayError {
  const info = extractBackendError(bodyText);
  const code = codeFor(status, info);
  const retryAfter = status === 429 || status === 503 ? parseRetryAfter(opts.retryAfter) : undefined;
  const message = `${service} ${status}: ${info.message || '(empty body)'}`;
  return new GatewayError(code, message, {
    details: { status, backend: service, ...(info.type ? { type: info.type } : {}) },
    ...(retryAfter === undefined ? {} : { retryAfter }),
  });
}

export function malformed(service: LlmService, what: string, status = 200, cause?: unknown): GatewayError {
  return new GatewayError('backend_malformed_response', `${service}: ${what}`, {
    cause,
    details: { status, backend: service },
  });
}

/** An error reported inside a 200 stream (vLLM error event, Ollama `{"error"}` line) or a dropped stream. */
export function streamError(service: LlmService, message: string, cause?: unknown): GatewayError {
  return new GatewayError('backend_stream_error', `${service} stream: ${message}`, {
    cause,
    details: { status: 200, backend: service },
  });
}

/** Message of an in-stream error payload: `{"error":{…}}`, legacy wrapped flat object, or a string. */
export function streamErrorMessage(err: unknown): string {
  if (typeof err === 'string') return err;
  if (isRecord(err)) {
    const m = str(err['message']);
    if (m !== undefined) return m;
  }
  return JSON.stringify(err) ?? 'unknown error';
}
