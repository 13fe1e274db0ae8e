/**
 * Lua scripts that change a job record and append its events in one step, so that a reader never sees
 * a status without its event (or the reverse), and a finished job can never be finished twice.
 * Every script: KEYS[1] = job hash, KEYS[2] = its event stream (same hash slot). Events are `name, json`
 * pairs at the end of ARGV; each is added to the stream, which is all readers need: the api reads the
 * streams it serves with a blocking XREAD (EventHub), so nothing is published beside the append. Expiry is
 * set when a record is created, started and ended, not on every append.
 */

const EMIT = `
local function emit(stream, first, last)
  for i = first, last, 2 do
    redis.call('XADD', stream, 'MAXLEN', '~', 20000, '*', 'e', ARGV[i], 'd', ARGV[i + 1])
  end
end
local function expire(ttl)
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
local function terminal(s) return s == 'completed' or s == 'failed' or s == 'cancelled' end
`;

/**
 * KEYS: job, events. ARGV: ttl, n (count of field/value args), n field/value args, event pairs.
 * Creates the record once (the stream only when there are events); returns 1, or 0 when it already
 * exists (nothing changes).
 */
export const CREATE_JOB = `${EMIT}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local nf = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + nf))
redis.call('EXPIRE', KEYS[1], ARGV[1])
if #ARGV > 2 + nf then
  emit(KEYS[2], 3 + nf, #ARGV)
  redis.call('EXPIRE', KEYS[2], ARGV[1])
end
return 1
`;

/**
 * KEYS: job, events. ARGV: ttl, now, the worker's pool server ('' = any). Marks running, bumps the attempt,
 * emits `status: running` (the first start creates the stream, which gets its expiry here; the record's
 * was set at creation). Returns {1, attempt}; {0, status} when ended or {0, 'cancel_requested'};
 * {0, 'moved:<server>'} when the record names another server (a copy a failover left on this server's
 * queue: it must not run here); {-1, ''} when the record is gone.
 */
export const START_JOB = `${EMIT}
local h = redis.call('HMGET', KEYS[1], 'status', 'cancel_requested', 'started_at', 'attempt', 'server')
local s = h[1]
if not s then return {-1, ''} end
if terminal(s) then return {0, s} end
if h[2] == '1' then return {0, 'cancel_requested'} end
if h[5] and ARGV[3] and ARGV[3] ~= '' and h[5] ~= ARGV[3] then return {0, 'moved:' .. h[5]} end
local attempt = tonumber(h[4] or '0') + 1
redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', h[3] or ARGV[2], 'attempt', attempt)
ARGV[3] = 'status'
ARGV[4] = '{"status":"running","attempt":' .. attempt .. '}'
emit(KEYS[2], 3, 4)
redis.call('EXPIRE', KEYS[2], ARGV[1])
return {1, attempt}
`;

/**
 * KEYS: job, events. ARGV: status, ttl, nFields, fields..., event pairs. Ends a job once and shrinks its
 * record to what polling shows (the request it ran is dropped: the queue had its own copy). Returns
 * {1, status, attempt, priority, started_at}; a second call (a retried or duplicated worker, a cancel
 * racing the worker) changes nothing and returns {0, current status, ...}; {-1, ''} when the record is gone.
 */
export const FINISH_JOB = `${EMIT}
local h = redis.call('HMGET', KEYS[1], 'status', 'attempt', 'priority', 'started_at', 'data')
local s = h[1]
if not s then return {-1, ''} end
local info = {s, tonumber(h[2] or '0'), tonumber(h[3] or '0'), h[4] or ''}
if terminal(s) then return {0, info[1], info[2], info[3], info[4]} end
local nf = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'status', ARGV[1], unpack(ARGV, 4, 3 + nf))
if h[5] then redis.call('HDEL', KEYS[1], 'data') end
emit(KEYS[2], 4 + nf, #ARGV)
expire(tonumber(ARGV[2]))
return {1, ARGV[1], info[2], info[3], info[4]}
`;

/**
 * KEYS: job, events. ARGV: guard field, ttl, nFields, fields..., event pairs. Updates a job after the fact
 * (speech). The guard field (when not empty) is set once: a second call with the same guard changes
 * nothing. Returns 1 when changed, 0 when the guard was set, -1 when the record is gone.
 */
export const PATCH_JOB = `${EMIT}
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if ARGV[1] ~= '' then
  if redis.call('HSETNX', KEYS[1], ARGV[1], '1') == 0 then return 0 end
end
local nf = tonumber(ARGV[3])
if nf > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 4, 3 + nf)) end
emit(KEYS[2], 4 + nf, #ARGV)
expire(tonumber(ARGV[2]))
return 1
`;
