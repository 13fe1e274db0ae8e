import fastifyRateLimit, {
  type FastifyRateLimitStore,
  type FastifyRateLimitStoreCtor,
} from '@fastify/rate-limit';
import { GatewayError } from '@gateway/contracts';
import { luaScript } from '@gateway/queue';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { ApiDeps } from './deps.js';

type Check = ReturnType<FastifyInstance['createRateLimit']>;

/**
 * The client's address, for counting. A client that hung up before its request was handled has none
 * (req.ip is undefined: the plugin's own default would throw a 500); such requests share one bucket.
 */
const clientAddress = (req: FastifyRequest): string => req.ip ?? 'gone';

/**
 * KEYS[1] = one subject's counter in its fixed window. ARGV = window (ms), 1 when the caller needs the
 * window's time left. Counts one request; the window starts (and the key gets its expiry) with its first
 * request. Returns {count, ms left}, ms left -1 when not asked for (the caller knows when its window ends).
 */
const COUNT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return {n, tonumber(ARGV[1])}
end
if ARGV[2] ~= '1' then return {n, -1} end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {n, left}
`;

/** Window ends remembered per process; beyond this many, the lapsed ones are dropped (then all). */
const MAX_REMEMBERED = 10_000;

/**
 * The plugin's Redis store, cheaper: the same fixed windows under the same keys, counted by one script
 * that reads the window's time left (PTTL) only when this process does not know it yet. The end of a
 * window is remembered from the reply that started or first read it, so a subject's later requests in the
 * same window cost the script and its INCR alone (the plugin's own store runs INCR and PTTL every time).
 */
function windowStore(redis: Redis, nameSpace: string) {
  const count = luaScript<[number, number]>(redis, 'gwRateCount', 1, COUNT);
  const ends = new Map<string, number>();
  const remember = (key: string, end: number) => {
    if (ends.size >= MAX_REMEMBERED) {
      const now = Date.now();
      for (const [k, e] of ends) if (e <= now) ends.delete(k);
      if (ends.size >= MAX_REMEMBERED) ends.clear();
    }
    ends.set(key, end);
  };
  const store: FastifyRateLimitStore = {
    incr(subject, cb, timeWindow) {
      const key = nameSpace + subject;
      const sent = Date.now();
      const known = ends.get(key);
      // A window this process saw start (or read) and that has not ended yet is still the live one:
      // the key cannot be recreated before it expires.
      const knowsEnd = known !== undefined && known > sent + 1_000;
      count(key, timeWindow, knowsEnd ? 0 : 1).then(
        ([current, left]) => {
          if (left >= 0) remember(key, sent + left);
          cb(null, { current, ttl: left >= 0 ? left : Math.max(0, (known ?? sent) - Date.now()) });
        },
        (err: Error) => cb(err),
      );
    },
    child: () => store,
  };
  // The plugin builds its store with `new`: a function returning an object gives it that object.
  return function WindowStore() {
    return store;
  } as unknown as FastifyRateLimitStoreCtor;
}

/**
 * One @fastify/rate-limit instance on its Redis store, in a scope of its own so that two of them (per
 * user, per IP) can count the same request under different keys. Fixed windows counted in Redis: every
 * api instance shares the counts.
 */
async function limiter(
  app: FastifyInstance,
  deps: ApiDeps,
  scope: string,
  max: number,
  keyGenerator?: (req: FastifyRequest) => string,
  windowSeconds = deps.config.limits.submitWindowSeconds,
): Promise<Check> {
  let check: Check | undefined;
  await app.register(async (child) => {
    await child.register(fastifyRateLimit, {
      global: false,
      store: windowStore(deps.redis, deps.keys.rateLimit(scope)),
      max,
      timeWindow: windowSeconds * 1000,
      keyGenerator: keyGenerator ?? clientAddress,
    });
    check = child.createRateLimit();
  });
  if (!check) throw new Error('rate limiter did not register');
  return check;
}

/**
 * The onRequest hook for routes that submit chat work (POST /chat/jobs, POST /v1/chat/completions):
 * SUBMIT_RATE_PER_USER per user and SUBMIT_RATE_PER_IP per client IP in each SUBMIT_RATE_WINDOW_SECONDS,
 * shared by every such route. Over either limit: 429 `rate_limited` with Retry-After (the window's
 * rest). It runs before the body is read, so a refused flood costs no parsing.
 */
export async function submissionRateLimit(
  app: FastifyInstance,
  deps: ApiDeps,
): Promise<(req: FastifyRequest, reply: FastifyReply) => Promise<void>> {
  const { limits } = deps.config;
  // The auth hook ran already; a request without a user is refused there, the IP is the fallback.
  const perUser = await limiter(
    app,
    deps,
    'submit-user',
    limits.submitPerUser,
    (req) => req.user?.id ?? clientAddress(req),
  );
  const perIp = await limiter(app, deps, 'submit-ip', limits.submitPerIp);
  return async (req, reply) => {
    const [user, ip] = await Promise.all([perUser(req), perIp(req)]);
    if (!user.isAllowed) {
      reply
        .header('x-ratelimit-limit', String(user.max))
        .header('x-ratelimit-remaining', String(user.remaining))
        .header('x-ratelimit-reset', String(user.ttlInSeconds));
    }
    for (const [scope, r] of [
      ['user', user],
      ['ip', ip],
    ] as const) {
      if (r.isAllowed || !r.isExceeded) continue;
      const retryAfter = Math.max(1, r.ttlInSeconds);
      const who = scope === 'user' ? 'you' : 'your address';
      throw new GatewayError(
        'rate_limited',
        `too many chat submissions from ${who} (${r.max} per ${limits.submitWindowSeconds} s); try again in ${retryAfter} s`,
        {
          retryAfter,
          details: { scope, limit: r.max, window_seconds: limits.submitWindowSeconds },
        },
      );
    }
  };
}

/** A refused fixed-window check as our 429 (`what` says what was counted, `scope` who it was counted for). */
function refuse(
  r: Extract<Awaited<ReturnType<Check>>, { isAllowed: false }>,
  what: string,
  scope: string,
  windowSeconds: number,
): never {
  const retryAfter = Math.max(1, r.ttlInSeconds);
  throw new GatewayError(
    'rate_limited',
    `${what} (${r.max} per ${windowSeconds} s); try again in ${retryAfter} s`,
    { retryAfter, details: { scope, limit: r.max, window_seconds: windowSeconds } },
  );
}

/**
 * The onRequest hook of POST /auth/guest: GUEST_RATE_PER_IP new guests per client address and
 * GUEST_RATE_GLOBAL from everyone together in each GUEST_RATE_WINDOW_SECONDS, so that one address cannot
 * mint accounts without end and a botnet cannot fill Redis with them either.
 */
export async function guestRateLimit(
  app: FastifyInstance,
  deps: ApiDeps,
): Promise<(req: FastifyRequest) => Promise<void>> {
  const { guestsPerIp, guestsGlobal, guestWindowSeconds: window } = deps.config.auth;
  const perIp = await limiter(app, deps, 'guest-ip', guestsPerIp, undefined, window);
  const global = await limiter(app, deps, 'guest-all', guestsGlobal, () => 'all', window);
  return async (req) => {
    const ip = await perIp(req);
    if (!ip.isAllowed && ip.isExceeded)
      refuse(ip, 'too many guest accounts from your address', 'guest_ip', window);
    const all = await global(req);
    if (!all.isAllowed && all.isExceeded)
      refuse(all, 'too many new guest accounts right now; register or log in instead', 'guest_all', window);
  };
}

/** SPEECH_RATE_PER_USER requests of POST /v1/audio/speech per user in each SPEECH_RATE_WINDOW_SECONDS. */
export async function speechRateLimit(
  app: FastifyInstance,
  deps: ApiDeps,
): Promise<(req: FastifyRequest) => Promise<void>> {
  const { speechPerUser, speechWindowSeconds: window } = deps.config.limits;
  const perUser = await limiter(
    app,
    deps,
    'speech-user',
    speechPerUser,
    (req) => req.user?.id ?? clientAddress(req),
    window,
  );
  return async (req) => {
    const r = await perUser(req);
    if (!r.isAllowed && r.isExceeded) refuse(r, 'too many speech requests from you', 'speech_user', window);
  };
}
