import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, REDACT_PATHS } from './index.js';

function memory(): { stream: Writable; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const text = (): string => chunks.join('');
  const lines = (): Record<string, unknown>[] =>
    text()
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stream, lines, text };
}

const SECRETS = [
  'hunter2-password',
  'sid=session-cookie-value',
  'Bearer eyJhbGciOi.secret-jwt',
  'tok-123-secret',
  'sk-live-api-key',
  '$argon2id$hash-value',
  'set-cookie-secret',
  'refresh-secret',
];

describe('createLogger', () => {
  it('writes JSON with service and pid', () => {
    const mem = memory();
    const log = createLogger({ service: 'api', destination: mem.stream });
    log.info({ a: 1 }, 'hello');
    const [line] = mem.lines();
    expect(line).toMatchObject({ service: 'api', pid: process.pid, a: 1, msg: 'hello', level: 30 });
    expect(typeof line?.['time']).toBe('string');
  });

  it('redacts secrets in common shapes', () => {
    const mem = memory();
    const log = createLogger({ service: 'api', destination: mem.stream });
    log.info({ password: SECRETS[0], user: { name: 'kim', password: SECRETS[0], passwordHash: SECRETS[5] } });
    log.info({
      req: { method: 'GET', headers: { cookie: SECRETS[1], authorization: SECRETS[2], host: 'x' } },
    });
    log.info({ res: { statusCode: 200, headers: { 'set-cookie': SECRETS[6] } } });
    log.info({ headers: { cookie: SECRETS[1], authorization: SECRETS[2] } });
    log.info({ token: SECRETS[3], body: { token: SECRETS[3], apiKey: SECRETS[4], api_key: SECRETS[4] } });
    log.info({
      row: { key_hash: SECRETS[5], password_hash: SECRETS[5] },
      jwt: SECRETS[2],
      cookie: SECRETS[1],
    });
    log.info({ authorization: SECRETS[2], apiKey: SECRETS[4], session: { refreshToken: SECRETS[7] } });
    log.info({ upstream: { headers: { authorization: SECRETS[2] } } });
    const text = mem.text();
    for (const secret of SECRETS) expect(text).not.toContain(secret);
    expect(text.split('[redacted]').length - 1).toBeGreaterThanOrEqual(20);
    const lines = mem.lines();
    expect(lines[0]).toMatchObject({ password: '[redacted]', user: { name: 'kim', password: '[redacted]' } });
    expect(lines[1]).toMatchObject({
      req: { method: 'GET', headers: { cookie: '[redacted]', authorization: '[redacted]', host: 'x' } },
    });
    expect(lines[2]).toMatchObject({ res: { statusCode: 200, headers: { 'set-cookie': '[redacted]' } } });
  });

  it('leaves ordinary fields alone', () => {
    const mem = memory();
    const log = createLogger({ service: 'worker', destination: mem.stream });
    log.info({ usage: { prompt_tokens: 12, completion_tokens: 3 }, tokens: 15, jobId: 'j1' });
    expect(mem.lines()[0]).toMatchObject({ usage: { prompt_tokens: 12, completion_tokens: 3 }, tokens: 15 });
  });

  it('child({ jobId }) carries jobId', () => {
    const mem = memory();
    const log = createLogger({ service: 'llm-worker', destination: mem.stream });
    const child = log.child({ jobId: 'job-42' });
    child.info({ token: SECRETS[3] }, 'started');
    const [line] = mem.lines();
    expect(line).toMatchObject({
      service: 'llm-worker',
      jobId: 'job-42',
      msg: 'started',
      token: '[redacted]',
    });
  });

  it('serializes err with its own fields (code, status)', () => {
    const mem = memory();
    const log = createLogger({ service: 'api', destination: mem.stream });
    class GatewayError extends Error {
      readonly code = 'context_too_long';
      readonly status = 422;
      readonly details = { max_tokens: 1 };
      override name = 'GatewayError';
    }
    log.error({ err: new GatewayError('too long') }, 'failed');
    const err = mem.lines()[0]?.['err'] as Record<string, unknown>;
    expect(err).toMatchObject({
      type: 'GatewayError',
      message: 'too long',
      code: 'context_too_long',
      status: 422,
      details: { max_tokens: 1 },
    });
    expect(typeof err['stack']).toBe('string');
  });

  it('takes its level from the caller, not from LOG_LEVEL in the environment', () => {
    const saved = process.env['LOG_LEVEL'];
    process.env['LOG_LEVEL'] = 'error';
    try {
      const mem = memory();
      createLogger({ service: 'api', destination: mem.stream }).info('shown');
      expect(mem.lines().map((l) => l['msg'])).toEqual(['shown']);
    } finally {
      if (saved === undefined) delete process.env['LOG_LEVEL'];
      else process.env['LOG_LEVEL'] = saved;
    }
  });

  it('respects the level', () => {
    const mem = memory();
    const log = createLogger({ service: 'api', level: 'warn', destination: mem.stream });
    log.info('hidden');
    log.warn('shown');
    expect(mem.lines().map((l) => l['msg'])).toEqual(['shown']);
  });

  it('exports the redact paths', () => {
    expect(REDACT_PATHS).toEqual(expect.arrayContaining(['req.headers.cookie', '*.password', 'jwt']));
  });
});
