import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { luaScript } from './lua.js';

export interface ConversationMeta {
  id: string;
  owner: string;
  characterId: string | null;
  createdAt: number;
}

/** One finished exchange. Stored under its turn number, so writing it twice (a re-run job) is harmless. */
export interface StoredTurn {
  turn: number;
  job_id: string | null;
  user: string | null;
  assistant: string;
  user_at: number;
  assistant_at: number;
}

/**
 * Opens a turn in one step (one round trip, one slot): creates the conversation when new (its greeting
 * becomes turn 0), refuses one owned by someone else, reserves the next turn number and puts the job in
 * line. KEYS: meta, turns, pending. ARGV: owner, character id, greeting JSON or '', job id, ttl, now (ms),
 * '1' to create (else '0'), conversation id (not stored: the key names it). Returns {turn, head job id},
 * or {-1, ''} when the conversation belongs to another owner, is unknown, or (create) already exists.
 *
 * Expiry costs no command on most turns: the meta's and the line's TTLs are pushed back only once a
 * tenth of the TTL has run down since the last push (`ttl_at` in the meta, read with the owner), so an
 * active conversation always has at least 0.9 of its TTL left. (The line is never emptied while the
 * conversation lives: ended jobs stay in it scored 0, so it never comes back without its TTL; a
 * conversation from before that, with no `ttl_at`, is pushed on its next turn.)
 */
const OPEN_TURN = `
local ttl, now = tonumber(ARGV[5]), tonumber(ARGV[6])
local meta = redis.call('HMGET', KEYS[1], 'owner', 'ttl_at')
local owner, push = meta[1], false
if ARGV[7] == '1' then
  if owner then return {-1, ''} end
  redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'created_at', ARGV[6], 'next_turn', 0)
  if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'character_id', ARGV[2]) end
  if ARGV[3] ~= '' then
    redis.call('HSET', KEYS[2], '0', ARGV[3])
    redis.call('EXPIRE', KEYS[2], ttl)
  end
  push = true
elseif owner ~= ARGV[1] then
  return {-1, ''}
else
  push = now - tonumber(meta[2] or '0') >= ttl * 100
end
local turn = redis.call('HINCRBY', KEYS[1], 'next_turn', 1)
redis.call('ZADD', KEYS[3], turn, ARGV[4])
if push then
  redis.call('HSET', KEYS[1], 'ttl_at', now)
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
end
local head = redis.call('ZRANGEBYSCORE', KEYS[3], '(0', '+inf', 'LIMIT', 0, 1)
return {turn, head[1] or ''}
`;

/**
 * Takes an ended turn out of line: its score becomes ENDED_SCORE, so the job stays listed for the
 * conversation's deletion. KEYS: pending. ARGV: job id. Returns the job id now at the head of the line,
 * or '' when none waits.
 */
const RELEASE_TURN = `
redis.call('ZADD', KEYS[1], 'XX', 0, ARGV[1])
local head = redis.call('ZRANGEBYSCORE', KEYS[1], '(0', '+inf', 'LIMIT', 0, 1)
return head[1] or ''
`;

/**
 * Stores a finished turn under its number (so a re-run writes the same field) and keeps the turns as long
 * as the conversation (its meta's expiry was refreshed when the turn was opened). KEYS: turns. ARGV: turn
 * number, turn JSON, ttl. Returns nothing.
 */
const SAVE_TURN = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
`;

/**
 * Conversations: meta, finished turns (a hash keyed by turn number) and the conversation's jobs (a sorted
 * set: a queued or running turn's job scored by its turn number, so that only the lowest may run and the
 * turns never overlap; an ended one scored 0, kept so that deleting the conversation deletes its jobs).
 * One small sorted set (a listpack) instead of a line plus a set of job ids: a waiting job of a new
 * conversation costs one key less (issue #15).
 */
export class ConversationStore {
  private readonly openScript;
  private readonly releaseScript;
  private readonly saveScript;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    readonly ttlSeconds: number,
  ) {
    this.openScript = luaScript(redis, 'gwOpenTurn', 3, OPEN_TURN);
    this.releaseScript = luaScript(redis, 'gwReleaseTurn', 1, RELEASE_TURN);
    this.saveScript = luaScript(redis, 'gwSaveTurn', 1, SAVE_TURN);
  }

  /**
   * Opens the next turn of conversation `id` (a new one when `create`) for `jobId`. Null when the
   * conversation is unknown or not `owner`'s. `head` is the job id whose turn runs next.
   */
  async openTurn(o: {
    id: string;
    create: boolean;
    owner: string;
    characterId: string | null;
    greeting: string | null;
    jobId: string;
  }): Promise<{ turn: number; head: string } | null> {
    const now = Date.now();
    const greeting: StoredTurn | null = o.greeting
      ? { turn: 0, job_id: null, user: null, assistant: o.greeting, user_at: now, assistant_at: now }
      : null;
    const [turn, head] = (await this.openScript(
      this.keys.conversation(o.id),
      this.keys.conversationTurns(o.id),
      this.keys.conversationPending(o.id),
      o.owner,
      o.characterId ?? '',
      greeting ? JSON.stringify(greeting) : '',
      o.jobId,
      this.ttlSeconds,
      now,
      o.create ? '1' : '0',
      o.id,
    )) as [number, string];
    return turn < 0 ? null : { turn, head };
  }

  /** Takes an ended turn out of line; returns the job id whose turn is next, if any. */
  async releaseTurn(id: string, jobId: string): Promise<string | null> {
    return ((await this.releaseScript(this.keys.conversationPending(id), jobId)) as string) || null;
  }

  async meta(id: string): Promise<ConversationMeta | null> {
    const h = await this.redis.hgetall(this.keys.conversation(id));
    if (!h.owner) return null;
    return {
      id,
      owner: h.owner,
      characterId: h.character_id || null,
      createdAt: Number(h.created_at ?? 0),
    };
  }

  async saveTurn(id: string, turn: StoredTurn): Promise<void> {
    await this.saveScript(this.keys.conversationTurns(id), turn.turn, JSON.stringify(turn), this.ttlSeconds);
  }

  async turns(id: string): Promise<StoredTurn[]> {
    const all = await this.redis.hvals(this.keys.conversationTurns(id));
    return all.map((t) => JSON.parse(t) as StoredTurn).sort((a, b) => a.turn - b.turn);
  }
}
