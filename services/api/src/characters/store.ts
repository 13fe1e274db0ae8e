import { randomUUID } from 'node:crypto';
import {
  CHARACTER_LIMITS,
  type Character,
  type CharacterInput,
  type CharacterPatch,
  type CharacterSnapshot,
  GatewayError,
  type Lorebook,
} from '@gateway/contracts';
import { type Keys, luaScript } from '@gateway/queue';
import type { Redis } from 'ioredis';
import { notFound } from '../errors.js';

interface Stored {
  id: string;
  name: string;
  persona: string;
  voice_id: string | null;
  greeting: string | null;
  /** Absent in records written before lorebooks and alternative greetings were kept. */
  alternate_greetings?: string[];
  lorebook?: Lorebook | null;
  created_at: number;
  updated_at: number;
}

/** KEYS[1] = hash; ARGV: field, value. Sets the field only when it exists. */
const REPLACE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

/**
 * KEYS[1] = an owner's characters (hash). ARGV: max, field, value, expire seconds ('' = none). Adds the
 * character only while the owner has fewer than max, in one step, so parallel creates cannot overshoot.
 * Returns {1, count after} or {0, count}.
 */
const CREATE = `
local n = redis.call('HLEN', KEYS[1])
if n >= tonumber(ARGV[1]) then return {0, n} end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if ARGV[4] ~= '' then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4])) end
return {1, n + 1}
`;

const view = (s: Stored): Character => ({
  id: s.id,
  name: s.name,
  persona: s.persona,
  voice_id: s.voice_id,
  greeting: s.greeting,
  alternate_greetings: s.alternate_greetings ?? [],
  lorebook: s.lorebook ?? null,
  lorebook_entries: s.lorebook?.entries.length ?? 0,
  created_at: new Date(s.created_at).toISOString(),
  updated_at: new Date(s.updated_at).toISOString(),
});

/**
 * Characters live in one hash per owner (field = character id). A lookup always names the owner, so
 * another user's character id simply is not there: ownership holds by construction, not by a check.
 */
export class CharacterStore {
  private readonly replaceScript;
  private readonly createScript;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    this.replaceScript = luaScript(redis, 'gwReplaceField', 1, REPLACE);
    this.createScript = luaScript(redis, 'gwCreateCharacter', 1, CREATE);
  }

  async list(owner: string): Promise<Character[]> {
    const all = await this.redis.hvals(this.keys.characters(owner));
    return all
      .map((v) => JSON.parse(v) as Stored)
      .sort((a, b) => a.created_at - b.created_at)
      .map((s) => {
        // Lorebooks stay out of the list (up to 64 KB each); one character's view has its book.
        const { lorebook: _book, ...rest } = view(s);
        return rest;
      });
  }

  async get(owner: string, id: string): Promise<Character | null> {
    const s = await this.stored(owner, id);
    return s ? view(s) : null;
  }

  /** `expireSeconds`: a guest's characters go with the guest. */
  async create(
    owner: string,
    input: CharacterInput,
    expireSeconds: number | null = null,
  ): Promise<Character> {
    const now = Date.now();
    const s: Stored = { id: randomUUID(), ...input, created_at: now, updated_at: now };
    const limit = CHARACTER_LIMITS.perUser;
    const [taken, count] = (await this.createScript(
      this.keys.characters(owner),
      limit,
      s.id,
      JSON.stringify(s),
      expireSeconds ?? '',
    )) as [number, number];
    if (taken !== 1) {
      throw new GatewayError(
        'conflict',
        `you have ${count} characters, the most one account may keep; delete one first`,
        { details: { count, limit } },
      );
    }
    return view(s);
  }

  async update(owner: string, id: string, patch: CharacterPatch): Promise<Character | null> {
    const s = await this.stored(owner, id);
    if (!s) return null;
    const next: Stored = { ...s, ...patch, id: s.id, updated_at: Date.now() };
    // Only if still there: a concurrent delete wins over this update instead of being undone by it.
    const replaced = await this.replaceScript(this.keys.characters(owner), id, JSON.stringify(next));
    return replaced === 1 ? view(next) : null;
  }

  async remove(owner: string, id: string): Promise<boolean> {
    return (await this.redis.hdel(this.keys.characters(owner), id)) === 1;
  }

  /** What a chat job needs of the character, fixed at submit time; 404 for unknown or foreign ids. */
  async snapshot(owner: string, id: string): Promise<CharacterSnapshot> {
    return (await this.snapshotWithGreetings(owner, id)).snapshot;
  }

  /** The snapshot, and the other greetings a new conversation offers as alternatives of its greeting. */
  async snapshotWithGreetings(
    owner: string,
    id: string,
  ): Promise<{ snapshot: CharacterSnapshot; alternateGreetings: string[] }> {
    const s = await this.stored(owner, id);
    if (!s) throw notFound('character');
    return {
      snapshot: {
        id: s.id,
        name: s.name,
        persona: s.persona || null,
        voice_id: s.voice_id,
        greeting: s.greeting,
        lorebook: s.lorebook ?? null,
      },
      alternateGreetings: s.alternate_greetings ?? [],
    };
  }

  private async stored(owner: string, id: string): Promise<Stored | null> {
    const raw = await this.redis.hget(this.keys.characters(owner), id);
    return raw ? (JSON.parse(raw) as Stored) : null;
  }
}
