import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCode, GatewayError } from './errors.js';

describe('GatewayError', () => {
  it('takes status and retryable from the code table alone', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const err = new GatewayError(code, 'm', { details: { x: 1 }, retryAfter: 5 });
      expect({ code, status: err.status, retryable: err.retryable }).toEqual({ code, ...ERROR_CODES[code] });
    }
  });

  it('has no way to override retryable at a call site', () => {
    // @ts-expect-error -- `retryable` is not an option: a different retry behaviour needs a different code.
    const err = new GatewayError('internal_error', 'm', { retryable: true });
    expect(err.retryable).toBe(false);
  });

  it('keeps the codes that replaced the former overrides apart from their neighbours', () => {
    // TTS_ENGINE=none cannot be waited out; a speech server that is restarting can.
    expect(new GatewayError('tts_disabled', 'off')).toMatchObject({ status: 503, retryable: false });
    expect(new GatewayError('tts_unavailable', 'down')).toMatchObject({ status: 503, retryable: true });
    // An unforeseen exception inside a worker job is retried; an api-side internal error is not.
    expect(new GatewayError('worker_error', 'boom')).toMatchObject({ status: 500, retryable: true });
    expect(new GatewayError('internal_error', 'boom')).toMatchObject({ status: 500, retryable: false });
  });
});
