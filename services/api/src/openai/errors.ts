import { ERROR_CODES, GatewayError, isErrorCode, type OpenAiErrorBody } from '@gateway/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorView } from '../errors.js';

/**
 * OpenAI's error `type` for a status. The SDKs pick their error class from the status alone
 * (400 BadRequestError, 401 AuthenticationError, 404 NotFoundError, 429 RateLimitError, 5xx
 * InternalServerError); the type is for people reading the body.
 */
export function openAiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** The request field at fault, from validation details (`body.messages.0.content` -> `messages.0.content`). */
function paramOf(details: unknown): string | null {
  if (Array.isArray(details)) {
    const field = (details[0] as { field?: unknown } | undefined)?.field;
    if (typeof field === 'string') return field.replace(/^body\.?/, '') || null;
  }
  if (details && typeof details === 'object' && 'param' in details) {
    const param = (details as { param?: unknown }).param;
    if (typeof param === 'string') return param;
  }
  return null;
}

export function openAiErrorBody(view: ErrorView): OpenAiErrorBody {
  return {
    error: {
      message: view.message,
      type: openAiErrorType(view.status),
      param: paramOf(view.details),
      code: view.code,
    },
  };
}

/**
 * Writes an error the way OpenAI does. `Retry-After` goes with 429 and 503 (the SDKs wait that long
 * before their own retry); `x-should-retry` tells the SDKs not to resend what cannot succeed, such as a
 * job cancelled elsewhere (409, which they would otherwise retry).
 */
export function sendOpenAiError(req: FastifyRequest, reply: FastifyReply, view: ErrorView): FastifyReply {
  if (view.retryAfter !== undefined)
    reply.header('retry-after', String(Math.max(1, Math.ceil(view.retryAfter))));
  if (isErrorCode(view.code) && (view.status === 409 || view.status >= 500)) {
    reply.header('x-should-retry', String(ERROR_CODES[view.code].retryable));
  }
  const shown =
    view.code === 'unauthorized' && req.headers.authorization === undefined
      ? {
          ...view,
          message:
            'no API key: send "Authorization: Bearer <key>" (a logged-in user creates keys with POST /auth/api-keys)',
        }
      : view;
  return reply.code(view.status).send(openAiErrorBody(shown));
}

/** A field of the request that cannot be served, reported with OpenAI's `param`. */
export const badParam = (param: string, message: string) =>
  new GatewayError('invalid_input', message, { details: [{ field: `body.${param}`, message }] });
