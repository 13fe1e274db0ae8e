import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { extractBackendError, parseBackendError, parseRetryAfter } from './errors.js';

const fx = (name: string) => readFileSync(new URL(`../../../fixtures/${name}`, import.meta.url), 'utf8');

describe('extractBackendError', () => {
  it.each([
    ['{"error":{"message":"m1","type":"BadRequestError","param":"input_tokens","code":400}}', 'm1'],
    ['{"object":"error","message":"m2","type":"BadRequestError","param":null,"code":400}', 'm2'],
    ['{"error":"Unauthorized"}', 'Unauthorized'],
    ['{"detail":"Not Found"}', 'Not Found'],
    ['{"detail":[{"loc":["body","messages"],"msg":"Field required"}]}', 'Field required'],
    ['', ''],
    ['upstream connect error', 'upstream connect error'],
    ['<html><head><title>504 Gateway Time-out</title></head></html>', '504 Gateway Time-out'],
  ])('%s', (body, message) => {
    expect(extractBackendError(body).message).toContain(message);
  });
});

describe('parseBackendError', () => {
  it('both context-length fixtures are context_too_long', () => {
    for (const name of ['vllm_error_context_length.json', 'vllm_error_context_length_legacy.json']) {
      const err = parseBackendError(400, fx(name), 'vllm');
      expect(err.code).toBe('context_too_long');
      expect(err.retryable).toBe(false);
      expect(err.message).toContain("This model's maximum context length is 4096 tokens");
    }
  });

  it.each([
    [500, '', 'backend_server_error', true],
    [502, '<html>bad gateway</html>', 'backend_server_error', true],
    [
      503,
      '{"error":"server busy, please try again.  maximum pending requests exceeded"}',
      'backend_busy',
      true,
    ],
    [429, '{"error":"slow down"}', 'backend_busy', true],
    [401, '{"error":"Unauthorized"}', 'backend_unauthorized', false],
    [403, '', 'backend_unauthorized', false],
    [404, '{"error":"model \\"x\\" not found, try pulling it first"}', 'model_not_found', false],
    [
      404,
      '{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","code":404}',
      'model_not_found',
      false,
    ],
    [404, '{"detail":"Not Found"}', 'backend_bad_request', false],
    [
      400,
      '{"error":{"message":"1 validation error: ...","type":"Bad Request","param":"body.messages"}}',
      'backend_bad_request',
      false,
    ],
    [422, '{"detail":"bad"}', 'backend_bad_request', false],
  ] as const)('%i %s -> %s', (status, body, code, retryable) => {
    const err = parseBackendError(status, body, 'ollama');
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(retryable);
    expect(err.details).toMatchObject({ status, backend: 'ollama' });
  });

  it('keeps Retry-After only on 429/503', () => {
    expect(parseBackendError(503, '', 'vllm', { retryAfter: '7' }).retryAfter).toBe(7);
    expect(parseBackendError(429, '', 'vllm', { retryAfter: ['3'] }).retryAfter).toBe(3);
    expect(parseBackendError(500, '', 'vllm', { retryAfter: '7' }).retryAfter).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
