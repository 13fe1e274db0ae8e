/**
 * Lua scripts that change a job record and append its events in one step, so that a reader never sees
 * a status without its event (or the reverse), and a finished job can never be finished twice.
 * Every script: KEYS[1] = job hash, KEYS[2] = its event stream (same hash slot). Events are `name, json`
 * pairs at the end of ARGV; each is added to the stream and published on a channel named like the
 * stream, as "id\nname\njson", and the stream's expiry is set to the ttl.
 */

const EMIT = `
local function emit(stream, ttl, first, last)
  local ids = {}
  for i = first, last, 2 do
    local id = redis.call('XADD', stream, 'MAXLEN', '~', 20000, '*', 'e', ARGV[i], 'd', ARGV[i + 1])
    redis.call('PUBLISH', stream, id .. '\\n' .. ARGV[i] .. '\\n' .. ARGV[i + 1])
    ids[#ids + 1] = id
  end
  redis.call('EXPIRE', stream, ttl)
  return ids
end
local function terminal(s) return s == 'completed' or s == 'failed' or s == 'cancelled' end
`;

/**
 * KEYS: job, events. ARGV: ttl, n (count of field/value args), n field/value args, event pairs.
 * Creates the record once; returns 1, or 0 when it already exists (nothing changes).
 */
export const CREATE_JOB = `${EMIT}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[1])
local nf = tonumber(ARGV[2])
for i = 3, 2 + nf, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ttl)
emit(KEYS[2], ttl, 3 + nf, #ARGV)
return 1
`;

/**
 * KEYS: job, events. ARGV: ttl, now. Marks running, bumps the attempt, emits `status: running`.
 * Returns {1, attempt}; {0, status} when ended or {0, 'cancel_requested'}; {-1, ''} when the record is gone.
 */
export const START_JOB = `${EMIT}
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return {-1, ''} end
if terminal(s) then return {0, s} end
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then return {0, 'cancel_requested'} end
local attempt = redis.call('HINCRBY', KEYS[1], 'attempt', 1)
redis.call('HSET', KEYS[1], 'status', 'running')
if not redis.call('HGET', KEYS[1], 'started_at') then redis.call('HSET', KEYS[1], 'started_at', ARGV[2]) end
local ttl = tonumber(ARGV[1])
redis.call('EXPIRE', KEYS[1], ttl)
ARGV[3] = 'status'
ARGV[4] = '{"status":"running","attempt":' .. attempt .. '}'
emit(KEYS[2], ttl, 3, 4)
return {1, attempt}
`;

/**
 * KEYS: job, events. ARGV: attempt, ttl, event pairs. Appends only for the current attempt of a running
 * job (a stale worker is ignored). Returns 1 when appended, 0 when not.
 */
export const APPEND_EVENTS = `${EMIT}
local h = redis.call('HMGET', KEYS[1], 'status', 'attempt')
if h[1] ~= 'running' or h[2] ~= ARGV[1] then return 0 end
emit(KEYS[2], tonumber(ARGV[2]), 3, #ARGV)
return 1
`;

/**
 * KEYS: job, events. ARGV: status, ttl, nFields, fields..., event pairs. Finishes a job once: returns
 * {1, status}; a second call (a retried or duplicated worker) changes nothing and returns {0, current
 * status}; {-1, ''} when the record is gone.
 */
export const FINISH_JOB = `${EMIT}
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return {-1, ''} end
if terminal(s) then return {0, s} end
local ttl = tonumber(ARGV[2])
local nf = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'status', ARGV[1])
for i = 4, 3 + nf, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ttl)
emit(KEYS[2], ttl, 4 + nf, #ARGV)
return {1, ARGV[1]}
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
local ttl = tonumber(ARGV[2])
local nf = tonumber(ARGV[3])
for i = 4, 3 + nf, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ttl)
emit(KEYS[2], ttl, 4 + nf, #ARGV)
return 1
`;
