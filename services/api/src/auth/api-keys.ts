import { createHash, randomBytes } from 'node:crypto';
import { API_KEY_PREFIX, type ApiKeyCreated, type ApiKeyView, GatewayError } from '@gateway/contracts';
import { type Keys, luaScript } from '@gateway/queue';
import type { Redis } from 'ioredis';
import type { SessionUser } from '../identity.js';

/** Keys one user may hold at once; revoke one to make another. */
export const MAX_KEYS_PER_USER = 50;

// 32 random bytes in base64url: 43 characters after the prefix.
const KEY_SHAPE = /^gwk_[A-Za-z0-9_-]{43}$/;
// last_used_at is written at most this often per key, so busy keys do not write on every request.
const TOUCH_EVERY_MS = 60_000;

/**
 * KEYS[1] = the key's record. ARGV: now, touch interval. Reads who the key belongs to and notes its use,
 * in one round trip. Returns nil for an unknown (or revoked) key.
 */
const RESOLVE = `
local v = redis.call('HMGET', KEYS[1], 'user_id', 'username', 'guest', 'id', 'last_used_at')
if not v[1] then return nil end
local now = tonumber(ARGV[1])
if not v[5] or now - tonumber(v[5]) >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'last_used_at', ARGV[1])
end
return {v[1], v[2] or '', v[3] or '0', v[4] or ''}
`;

/**
 * KEYS[1] = a user's key index (hash). ARGV: max, key id, index entry. Adds the entry only while the user
 * holds fewer than max keys, in one step, so parallel creates cannot overshoot. Returns 1, or 0 when full.
 */
const ADD_TO_INDEX = `
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1
`;

/** What the user's key index holds per key: never the key, only the hash that finds its record. */
interface IndexEntry {
  name: string;
  hash: string;
  created_at: number;
}

export const hashApiKey = (key: string) => createHash('sha256').update(key).digest('hex');
export const looksLikeApiKey = (token: string) => token.startsWith(API_KEY_PREFIX);

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * API keys for programs (the OpenAI facade). A key is `gwk_` + 32 random bytes, shown once; Redis holds
 * only its SHA-256: `apikey:{hash}` -> owner and name (found in one lookup per request), and the owner's
 * index `user:{id}:apikeys` -> id -> hash (for listing and revoking). Revoking deletes the record, so
 * the key stops working at the next request.
 */
export class ApiKeyStore {
  private readonly resolveScript;
  private readonly addScript;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    this.resolveScript = luaScript(redis, 'gwResolveApiKey', 1, RESOLVE);
    this.addScript = luaScript(redis, 'gwAddApiKey', 1, ADD_TO_INDEX);
  }

  async create(user: SessionUser, name: string, now = Date.now()): Promise<ApiKeyCreated> {
    const index = this.keys.userApiKeys(user.id);
    const full = () =>
      new GatewayError(
        'conflict',
        `you have ${MAX_KEYS_PER_USER} API keys, the most one user may have; revoke one first`,
      );
    // Cheap refusal of the usual case; the script below is what holds the cap under parallel creates.
    if ((await this.redis.hlen(index)) >= MAX_KEYS_PER_USER) throw full();
    const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const hash = hashApiKey(key);
    const id = `key_${randomBytes(9).toString('base64url')}`;
    const record = this.keys.apiKey(hash);
    // Two slots on a Redis Cluster: the record first, so an index entry never points at nothing. Until the
    // index takes it, nobody knows the key, so a record the cap refuses is simply deleted again.
    await this.redis.hset(record, {
      id,
      user_id: user.id,
      username: user.username,
      guest: user.guest ? '1' : '0',
      name,
      created_at: now,
    });
    const entry: IndexEntry = { name, hash, created_at: now };
    let added: unknown;
    try {
      added = await this.addScript(index, MAX_KEYS_PER_USER, id, JSON.stringify(entry));
    } catch (err) {
      await this.redis.del(record).catch(() => 0);
      throw err;
    }
    if (added !== 1) {
      await this.redis.del(record);
      throw full();
    }
    return { id, name, key, created_at: iso(now) };
  }

  async list(owner: string): Promise<ApiKeyView[]> {
    const all = await this.redis.hgetall(this.keys.userApiKeys(owner));
    const entries = Object.entries(all).map(([id, json]) => ({ id, ...(JSON.parse(json) as IndexEntry) }));
    // One command per key (not a pipeline): on a Redis Cluster the records live in different slots.
    const used = await Promise.all(
      entries.map((e) => this.redis.hget(this.keys.apiKey(e.hash), 'last_used_at')),
    );
    return entries
      .map((e, i) => ({
        id: e.id,
        name: e.name,
        created_at: iso(e.created_at),
        last_used_at: used[i] ? iso(Number(used[i])) : null,
      }))
      .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  /** Revokes a key of `owner`; false when it has no such key. */
  async revoke(owner: string, id: string): Promise<boolean> {
    const index = this.keys.userApiKeys(owner);
    const json = await this.redis.hget(index, id);
    if (!json) return false;
    const { hash } = JSON.parse(json) as IndexEntry;
    await this.redis.del(this.keys.apiKey(hash));
    await this.redis.hdel(index, id);
    return true;
  }

  /** The user a presented key belongs to, or null for a malformed, unknown or revoked key. */
  async resolve(key: string, now = Date.now()): Promise<{ user: SessionUser; keyId: string } | null> {
    if (!KEY_SHAPE.test(key)) return null;
    const r = (await this.resolveScript(this.keys.apiKey(hashApiKey(key)), now, TOUCH_EVERY_MS)) as
      | [string, string, string, string]
      | null;
    if (!r) return null;
    const [id, username, guest, keyId] = r;
    return { user: { id, username, guest: guest === '1' }, keyId };
  }
}
