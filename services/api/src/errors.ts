import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { ERROR_CODES, type ErrorCode, GatewayError, isGatewayError } from '@gateway/contracts';
import { isRedisDownError } from '@gateway/queue';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

export interface ErrorView {
  status: number;
  code: string;
  message: string;
  details?: unknown;
  retryAfter?: number;
}

// Fastify's own errors that are the client's fault, by their stable codes.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_input',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_input',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_input',
  FST_ERR_CTP_INVALID_TYPE: 'invalid_input',
  FST_ERR_VALIDATION: 'invalid_input',
  FST_ERR_BAD_URL: 'invalid_input',
  FST_ERR_ASYNC_CONSTRAINT: 'invalid_input',
  FST_ERR_INVALID_URL: 'invalid_input',
  FST_ERR_MAX_PARAM_LENGTH: 'invalid_input',
};

const PLUGIN_STATUS_CODES: Record<number, ErrorCode> = {
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

/** Turns anything thrown in a route into the public error shape; never leaks a stack or internal text. */
export function toErrorView(err: unknown): ErrorView {
  if (isGatewayError(err)) {
    return {
      status: err.status,
      code: err.code,
      message: err.message,
      ...(err.details === undefined ? {} : { details: err.details }),
      ...(err.retryAfter === undefined ? {} : { retryAfter: err.retryAfter }),
    };
  }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = (err as FastifyError).validationContext ?? 'body';
    const details = err.validation.map((v) => ({
      field: [where, ...v.instancePath.split('/').filter(Boolean)].join('.'),
      message: v.message ?? 'is invalid',
    }));
    const fields = [...new Set(details.map((d) => d.field))].join(', ');
    return { status: 400, code: 'invalid_input', message: `invalid ${fields}`, details };
  }
  const fe = err as Partial<FastifyError>;
  if (typeof fe.code === 'string' && fe.code in FASTIFY_CODES) {
    const code = FASTIFY_CODES[fe.code]!;
    return { status: ERROR_CODES[code].status, code, message: fe.message ?? code };
  }
  if (err instanceof SyntaxError || (typeof fe.statusCode === 'number' && fe.statusCode === 400)) {
    return { status: 400, code: 'invalid_input', message: 'the request body is not valid JSON' };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    if (fe.statusCode === 429)
      return { status: 429, code: 'rate_limited', message: fe.message ?? 'too many requests' };
    // A plugin's own 4xx (@fastify/static answers 403 for a path outside its root) keeps a fitting code.
    const code = PLUGIN_STATUS_CODES[fe.statusCode] ?? 'invalid_input';
    return { status: fe.statusCode, code, message: fe.message ?? 'bad request' };
  }
  if (isRedisDownError(err)) {
    return {
      status: 503,
      code: 'redis_unavailable',
      message: 'the job store is unavailable, try again shortly',
      retryAfter: 2,
    };
  }
  return { status: 500, code: 'internal_error', message: 'internal error' };
}

export function sendError(reply: FastifyReply, view: ErrorView): FastifyReply {
  if (view.retryAfter !== undefined)
    reply.header('retry-after', String(Math.max(1, Math.ceil(view.retryAfter))));
  return reply.code(view.status).send({
    error: {
      code: view.code,
      message: view.message,
      ...(view.details === undefined ? {} : { details: view.details }),
    },
  });
}

/** One error handler and one not-found handler for the whole app. Routes under /v1 may format differently. */
export function installErrorHandling(
  app: FastifyInstance,
  format: (req: FastifyRequest, reply: FastifyReply, view: ErrorView) => FastifyReply = (_req, reply, view) =>
    sendError(reply, view),
): void {
  app.setErrorHandler((err, req, reply) => {
    const view = toErrorView(err);
    if (view.status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ code: view.code, status: view.status }, 'request rejected');
    return format(req, reply, view);
  });
  app.setNotFoundHandler((req, reply) =>
    format(req, reply, {
      status: 404,
      code: 'not_found',
      message: `no route ${req.method} ${req.url.split('?')[0]}`,
    }),
  );
}

export const notFound = (what: string) => new GatewayError('not_found', `${what} not found`);

/** Errors Fastify meets before routing (an undecodable URL, a path parameter over the length limit). */
export function frameworkErrors(err: Error, _req: FastifyRequest, reply: FastifyReply): void {
  sendError(reply, toErrorView(err));
}

/**
 * Answers requests that are not valid HTTP (bad framing, headers over the size limit, a client too slow
 * to send them) in our error shape, before any route sees them; Fastify's default writes its own shape.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'the request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request did not arrive in time']
        : [400, 'the request is not valid HTTP'];
  const body = JSON.stringify({ error: { code: 'invalid_input', message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
