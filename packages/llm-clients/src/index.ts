import { HttpTransport } from './http.js';
import { OllamaClient } from './ollama.js';
import type { LlmClient, LlmClientOptions } from './types.js';
import { VllmClient } from './vllm.js';

export {
  type BackendErrorInfo,
  extractBackendError,
  isContextLengthError,
  parseBackendError,
  parseRetryAfter,
} from './errors.js';
export { LineTooLongError, Utf8LineSplitter, Utf8TextStream } from './lines.js';
export {
  OllamaStreamState,
  ollamaChatBody,
  ollamaFormat,
  ollamaMessages,
  parseOllamaChat,
} from './ollama.js';
export { mapTransportError } from './transport-errors.js';
export type * from './types.js';
export { parseVllmChat, VllmStreamState, vllmChatBody } from './vllm.js';

export const DEFAULTS = Object.freeze({
  connections: 16,
  contextTokens: 4096,
  maxLineBytes: 1024 * 1024,
  idleTimeoutCapMs: 30_000,
});

function positiveInt(name: string, v: number | undefined, fallback: number): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n <= 0)
    throw new TypeError(`createLlmClient: ${name} must be a positive integer`);
  return n;
}

/**
 * `baseUrl` is the server root (vLLM serves /tokenize and /health outside /v1). A trailing
 * `/v1`, as OpenAI-style settings usually carry, is dropped for vLLM rather than doubled.
 */
function normalizeBaseUrl(service: LlmClientOptions['service'], raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError(`createLlmClient: baseUrl is not a URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`createLlmClient: baseUrl must be http(s): ${raw}`);
  }
  let path = url.pathname.replace(/\/+$/, '');
  if (service === 'vllm') path = path.replace(/\/v1$/, '');
  return url.origin + path;
}

export function createLlmClient(opts: LlmClientOptions): LlmClient {
  if (opts.service !== 'vllm' && opts.service !== 'ollama') {
    throw new TypeError(`createLlmClient: unknown service ${String(opts.service)}`);
  }
  const baseUrl = normalizeBaseUrl(opts.service, opts.baseUrl);
  const timeoutMs = positiveInt('timeoutMs', opts.timeoutMs, 0);
  const idleTimeoutMs = positiveInt(
    'idleTimeoutMs',
    opts.idleTimeoutMs,
    Math.min(timeoutMs, DEFAULTS.idleTimeoutCapMs),
  );
  const maxLineBytes = positiveInt('maxLineBytes', opts.maxLineBytes, DEFAULTS.maxLineBytes);
  const http = new HttpTransport({
    service: opts.service,
    baseUrl,
    timeoutMs,
    idleTimeoutMs,
    connections: positiveInt('connections', opts.connections, DEFAULTS.connections),
    apiKey: opts.apiKey,
  });
  if (opts.service === 'vllm') return new VllmClient(baseUrl, http, maxLineBytes);
  const contextTokens = positiveInt('contextTokens', opts.contextTokens, DEFAULTS.contextTokens);
  return new OllamaClient(baseUrl, http, maxLineBytes, contextTokens, opts.keepAlive);
}
