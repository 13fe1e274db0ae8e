import pino from 'pino';

export type Logger = pino.Logger;

/**
 * Where secrets show up in our log objects. pino `redact` paths: a leading `*` matches one level
 * (`*.password` is `{ user: { password } }`); top-level keys are listed on their own.
 */
export const REDACT_PATHS: string[] = [
  // HTTP request / response shapes (fastify req/res serializers, undici errors, our own objects)
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.cookie',
  'headers.authorization',
  'headers["set-cookie"]',
  'headers["x-api-key"]',
  '*.headers.cookie',
  '*.headers.authorization',
  '*.headers["set-cookie"]',
  '*.headers["x-api-key"]',
  // secrets one level down
  '*.password',
  '*.passwordHash',
  '*.password_hash',
  '*.token',
  '*.accessToken',
  '*.access_token',
  '*.refreshToken',
  '*.refresh_token',
  '*.apiKey',
  '*.api_key',
  '*.key_hash',
  '*.jwt',
  '*.cookie',
  '*.authorization',
  '*.secret',
  // secrets at the top level of a log object
  'password',
  'passwordHash',
  'password_hash',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'cookie',
  'authorization',
  'apiKey',
  'api_key',
  'key_hash',
  'jwt',
  'secret',
];

/** Settings come from the caller (a service passes its parsed config: LOG_LEVEL, LOG_PRETTY); none from the environment. */
export interface CreateLoggerOptions {
  service: string;
  /** Default: 'info'. */
  level?: string;
  /** Pretty lines instead of JSON, taken only when stdout is a terminal. Default: false. Ignored with `destination`. */
  pretty?: boolean;
  /** Where JSON lines go (tests: a memory stream). Default: stdout. */
  destination?: pino.DestinationStream;
}

/** The root logger of a service: JSON lines with {service, pid}, secrets redacted, `err` serialized. */
export function createLogger(opts: CreateLoggerOptions): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    base: { service: opts.service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (opts.destination !== undefined) return pino(options, opts.destination);
  // A pipe or a log collector always gets JSON lines, whatever was asked.
  if (opts.pretty === true && process.stdout.isTTY === true) {
    return pino({
      ...options,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
      },
    });
  }
  return pino(options);
}
