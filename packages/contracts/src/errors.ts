/**
 * Every error the gateway can report, with its HTTP status and whether a retry can help.
 * The code is the contract: HTTP bodies, job failures and log lines all carry it.
 */
export const ERROR_CODES = {
  // Client errors on the public API.
  invalid_input: { status: 400, retryable: false },
  unauthorized: { status: 401, retryable: false },
  forbidden: { status: 403, retryable: false },
  not_found: { status: 404, retryable: false },
  method_not_allowed: { status: 405, retryable: false },
  conflict: { status: 409, retryable: false },
  conversation_busy: { status: 409, retryable: true },
  payload_too_large: { status: 413, retryable: false },
  unsupported_media_type: { status: 415, retryable: false },
  context_too_long: { status: 422, retryable: false },
  not_ready_for_tts: { status: 409, retryable: false },
  rate_limited: { status: 429, retryable: true },
  queue_full: { status: 429, retryable: true },
  user_job_limit: { status: 429, retryable: true },
  redis_unavailable: { status: 503, retryable: true },
  not_ready: { status: 503, retryable: true },
  internal_error: { status: 500, retryable: false },
  // An unforeseen exception inside a worker's job (a Redis blip, a bug): retried, as it may be passing.
  worker_error: { status: 500, retryable: true },

  // LLM backend failures (job errors; mapped to HTTP where a route calls the backend directly).
  backend_unavailable: { status: 503, retryable: true }, // connection refused / reset / DNS
  backend_timeout: { status: 504, retryable: true }, // total or idle timeout
  backend_server_error: { status: 502, retryable: true }, // 5xx
  backend_busy: { status: 503, retryable: true },
  server_busy: { status: 503, retryable: true }, // this process's own bounded work (password hashing) is full // Ollama 503 "server busy", vLLM 503 queue full
  backend_stream_error: { status: 502, retryable: true }, // error event after the stream began
  backend_bad_request: { status: 400, retryable: false }, // 4xx other than the ones below
  backend_unauthorized: { status: 502, retryable: false }, // the backend rejected our key
  model_not_found: { status: 404, retryable: false },
  backend_malformed_response: { status: 502, retryable: false },
  cancelled: { status: 409, retryable: false },
  job_stalled: { status: 500, retryable: false }, // its worker died again and again (BullMQ maxStalledCount)

  // Speech.
  tts_failed: { status: 502, retryable: false },
  tts_unavailable: { status: 503, retryable: true },
  tts_disabled: { status: 503, retryable: false }, // TTS_ENGINE=none: no retry can help
  tts_text_too_long: { status: 422, retryable: false },
  tts_engine_missing: { status: 503, retryable: false },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: unknown;
  /** Seconds a client should wait before trying again (429 / 503). */
  readonly retryAfter: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { cause?: unknown; details?: unknown; retryAfter?: number } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    // The code alone decides: a call site that needs other retry behaviour needs another code.
    this.retryable = ERROR_CODES[code].retryable;
    this.details = opts.details;
    this.retryAfter = opts.retryAfter;
  }

  toJSON(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return (
    err instanceof GatewayError ||
    (err instanceof Error && err.name === 'GatewayError' && isErrorCode((err as GatewayError).code))
  );
}

export type ErrorBody = { error: { code: string; message: string; details?: unknown } };
