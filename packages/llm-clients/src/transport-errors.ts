import { GatewayError, isGatewayError } from '@gateway/contracts';
import { malformed, streamError } from './errors.js';
import { LineTooLongError } from './lines.js';
import type { LlmService } from './types.js';

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);
const CONNECTION_CODES = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ETIMEDOUT',
]);

export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Happy-eyeballs connects (localhost -> ::1 and 127.0.0.1) fail with an AggregateError.
  if (err instanceof AggregateError) return errorCode(err.errors[0]);
  const cause = (err as { cause?: unknown }).cause;
  return cause === undefined ? undefined : errorCode(cause);
}

export function cancelled(service: LlmService, cause: unknown): GatewayError {
  return new GatewayError('cancelled', `${service}: request cancelled by caller`, {
    cause,
    details: { backend: service },
  });
}

export function timedOut(service: LlmService, timeoutMs: number, cause: unknown): GatewayError {
  return new GatewayError('backend_timeout', `${service}: no complete response within ${timeoutMs} ms`, {
    cause,
    details: { backend: service },
  });
}

/**
 * Transport failures by undici/system code. Errors without a known code (for example one
 * thrown by the caller's onToken) pass through untouched: they are not the backend's fault.
 */
export function mapTransportError(err: unknown, service: LlmService, midStream: boolean): unknown {
  if (isGatewayError(err)) return err;
  if (err instanceof LineTooLongError) return malformed(service, err.message, 200, err);
  const code = errorCode(err);
  if (code === undefined) return err;
  const detail = err instanceof Error ? err.message : String(err);
  if (TIMEOUT_CODES.has(code)) {
    return new GatewayError('backend_timeout', `${service}: ${detail} (${code})`, {
      cause: err,
      details: { backend: service, cause: code },
    });
  }
  if (midStream) return streamError(service, `connection lost mid-stream: ${detail} (${code})`, err);
  if (CONNECTION_CODES.has(code) || code.startsWith('UND_ERR_')) {
    return new GatewayError('backend_unavailable', `${service}: ${detail} (${code})`, {
      cause: err,
      details: { backend: service, cause: code },
    });
  }
  return err;
}
