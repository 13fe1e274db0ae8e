/**
 * Lua scripts that change a job record and append its events in one step, so that a reader never sees
 * a status without its event (or the reverse), and a finished job can never be finished twice.
 * KEYS[1] = job hash, KEYS[2] = its event stream (same hash slot). Events are `name, json` pairs; each is
 * added to the stream and published on a channel named like the stream, as "id\nname\njson".
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

/** ARGV: ttl, nEvents*2 pairs. Creates the record from the hash fields passed after the events. */
export const CREATE_JOB = `${EMIT}
-- ARGV[1] ttl, ARGV[2] number of field/value args, then fields, then event pairs
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[1])
local nf = tonumber(ARGV[2])
for i = 3, 2 + nf, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ttl)
emit(KEYS[2], ttl, 3 + nf, #ARGV)
return 1
`;

/** ARGV: ttl, now, the worker's server ('' = any). Marks running, bumps the attempt, emits `status: running`. Returns {1, attempt} or {0, status}; {0, 'moved:<server>'} when the job's record names another server (a copy left on this queue by a failover). */
export const START_JOB = `${EMIT}
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return {-1, ''} end
if terminal(s) then return {0, s} end
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then return {0, 'cancel_requested'} end
if ARGV[3] and ARGV[3] ~= '' then
  local server = redis.call('HGET', KEYS[1], 'server')
  if server and server ~= ARGV[3] then return {0, 'moved:' .. server} end
end
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

/** ARGV: attempt, ttl, event pairs. Appends only for the current attempt of a running job (a stale worker is ignored). */
export const APPEND_EVENTS = `${EMIT}
local h = redis.call('HMGET', KEYS[1], 'status', 'attempt')
if h[1] ~= 'running' or h[2] ~= ARGV[1] then return 0 end
emit(KEYS[2], tonumber(ARGV[2]), 3, #ARGV)
return 1
`;

/**
 * ARGV: status, ttl, nFields, fields..., event pairs. Finishes a job once: a second call (a retried or
 * duplicated worker) changes nothing and returns {0, current status}.
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
 * ARGV: guard field, ttl, nFields, fields..., event pairs. Updates a job after the fact (speech). The guard
 * field (when not empty) is set once: a second call with the same guard changes nothing.
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
