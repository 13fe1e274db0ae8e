import type { ConversationMessage } from '@gateway/contracts';
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

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
 * Conversations: meta, finished turns (a hash keyed by turn number) and the pending turns (a sorted set
 * by turn number: only its head may run, so the turns of one conversation never overlap).
 */
export class ConversationStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    readonly ttlSeconds: number,
  ) {}

  /** Creates the conversation if it is new; returns its meta (existing or new). */
  async ensure(
    id: string,
    owner: string,
    characterId: string | null,
    greeting: string | null,
  ): Promise<ConversationMeta> {
    const key = this.keys.conversation(id);
    const now = Date.now();
    const created = await this.redis.hsetnx(key, 'owner', owner);
    if (created === 1) {
      const tx = this.redis
        .multi()
        .hset(key, { id, character_id: characterId ?? '', created_at: now, next_turn: 0 });
      // The character's greeting is turn 0, an assistant message without a user line.
      if (greeting) {
        const turn: StoredTurn = {
          turn: 0,
          job_id: null,
          user: null,
          assistant: greeting,
          user_at: now,
          assistant_at: now,
        };
        tx.hset(this.keys.conversationTurns(id), '0', JSON.stringify(turn));
        tx.expire(this.keys.conversationTurns(id), this.ttlSeconds);
      }
      await tx.expire(key, this.ttlSeconds).exec();
      return { id, owner, characterId, createdAt: now };
    }
    const meta = await this.meta(id);
    if (!meta) throw new Error(`conversation ${id} vanished while being created`);
    return meta;
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

  /** Reserves the next turn number and marks the job pending in the conversation. */
  async reserveTurn(id: string, jobId: string): Promise<number> {
    const turn = await this.redis.hincrby(this.keys.conversation(id), 'next_turn', 1);
    await this.redis
      .multi()
      .zadd(this.keys.conversationPending(id), String(turn), jobId)
      .expire(this.keys.conversationPending(id), this.ttlSeconds)
      .expire(this.keys.conversation(id), this.ttlSeconds)
      .exec();
    return turn;
  }

  /** True when no earlier turn of the conversation is still pending. */
  async isNext(id: string, jobId: string): Promise<boolean> {
    const head = await this.head(id);
    return head === null || head === jobId;
  }

  /** The pending turn that runs next, if any. */
  async head(id: string): Promise<string | null> {
    const head = await this.redis.zrange(this.keys.conversationPending(id), '0', '0');
    return head[0] ?? null;
  }

  async release(id: string, jobId: string): Promise<void> {
    await this.redis.zrem(this.keys.conversationPending(id), jobId);
  }

  async saveTurn(id: string, turn: StoredTurn): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keys.conversationTurns(id), String(turn.turn), JSON.stringify(turn))
      .expire(this.keys.conversationTurns(id), this.ttlSeconds)
      .expire(this.keys.conversation(id), this.ttlSeconds)
      .exec();
  }

  async turns(id: string): Promise<StoredTurn[]> {
    const all = await this.redis.hvals(this.keys.conversationTurns(id));
    return all.map((t) => JSON.parse(t) as StoredTurn).sort((a, b) => a.turn - b.turn);
  }

  async messages(id: string): Promise<ConversationMessage[]> {
    const out: ConversationMessage[] = [];
    for (const t of await this.turns(id)) {
      if (t.user !== null) {
        out.push({
          role: 'user',
          content: t.user,
          job_id: t.job_id,
          created_at: new Date(t.user_at).toISOString(),
        });
      }
      out.push({
        role: 'assistant',
        content: t.assistant,
        job_id: t.job_id,
        created_at: new Date(t.assistant_at).toISOString(),
      });
    }
    return out;
  }
}
