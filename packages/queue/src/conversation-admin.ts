import { type ConversationMessage, GatewayError, type Lorebook } from '@gateway/contracts';
import type { Redis } from 'ioredis';
import type { StoredTurn } from './conversations.js';
import type { Keys } from './keys.js';
import { luaScript } from './lua.js';

/**
 * Managing stored conversations: the owner's list, titles, deletion, swipes (a regenerated reply joins
 * its turn's alternatives) and edits. A turn's `assistant` is always its selected alternative, so a
 * prompt built from the turns sees only the selected text.
 *
 * Every change checks, in the same script, that the conversation is the caller's and that no turn of it
 * is queued or running (its pending line is empty): a reply being written is never edited under it.
 */

/** A stored turn with its alternatives (absent on turns that never had a second reply). */
export interface TurnWithAlternatives extends StoredTurn {
  alternatives?: string[];
  /** The job that wrote each alternative (null for a greeting); guards a re-run from adding twice. */
  alternative_jobs?: (string | null)[];
  selected?: number;
}

export const alternativesOf = (t: TurnWithAlternatives): string[] => t.alternatives ?? [t.assistant];
export const selectedOf = (t: TurnWithAlternatives): number => t.selected ?? 0;

export interface ConversationSummary {
  conversation_id: string;
  character_id: string | null;
  title: string | null;
  updated_at: string;
  last_message: string | null;
}

export type AdminRefusal = 'not_found' | 'busy' | 'nothing';

/** Longest last message shown in a listing. */
const PREVIEW_CHARS = 200;
/** How far below `next_turn` the listing looks for the newest stored turn (failed turns leave holes). */
const PREVIEW_LOOKBACK = 16;

/** KEYS: meta. ARGV: owner, title. 1 done, 0 not the owner's (or gone). */
const RENAME = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'title', ARGV[2])
return 1
`;

/**
 * KEYS: meta, turns, pending, jobs. ARGV: owner. The conversation's jobs are those of its pending set
 * (ended ones scored 0), and those of the set of job ids that conversations created before it kept.
 * Returns {'ok', job ids...}, {'not_found'} or {'busy'}; on ok the conversation's keys are gone.
 */
const DELETE = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return {'not_found'} end
if redis.call('ZCOUNT', KEYS[3], '(0', '+inf') > 0 then return {'busy'} end
local jobs = redis.call('ZRANGE', KEYS[3], 0, -1)
for _, j in ipairs(redis.call('SMEMBERS', KEYS[4])) do table.insert(jobs, j) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
table.insert(jobs, 1, 'ok')
return jobs
`;

/**
 * Puts a regeneration of the newest stored turn in the conversation's line (which also lists it for
 * deletion). KEYS: meta, turns, pending, jobs (unused; kept so the script's keys stay). ARGV: owner, job id, ttl, lookback.
 * Returns {'ok', turn, turn JSON}, {'not_found'}, {'busy'} or {'nothing'} (no reply to a user message).
 */
const OPEN_REGENERATION = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return {'not_found'} end
if redis.call('ZCOUNT', KEYS[3], '(0', '+inf') > 0 then return {'busy'} end
local top = tonumber(redis.call('HGET', KEYS[1], 'next_turn') or '0')
local lowest = math.max(0, top - tonumber(ARGV[4]))
for t = top, lowest, -1 do
  local raw = redis.call('HGET', KEYS[2], tostring(t))
  if raw then
    if t == 0 then return {'nothing'} end
    redis.call('ZADD', KEYS[3], t, ARGV[2])
    redis.call('EXPIRE', KEYS[3], ARGV[3])
    return {'ok', t, raw}
  end
end
return {'nothing'}
`;

/**
 * Replaces one turn if it is still what the caller read (compare and set), optionally only while no turn
 * is pending. KEYS: meta, turns, pending. ARGV: owner ('' = any), turn, expected JSON, new JSON, idle?
 * Returns 1 done, 0 changed meanwhile (read again), -1 not found, -2 busy.
 */
const REPLACE_TURN = `
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return -1 end
if ARGV[5] == '1' and redis.call('ZCOUNT', KEYS[3], '(0', '+inf') > 0 then return -2 end
local now = redis.call('HGET', KEYS[2], ARGV[2])
if not now then return -1 end
if now ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
return 1
`;

/**
 * Puts a conversation at the top of its owner's list. KEYS: the owner's list. ARGV: conversation id, now,
 * ttl. Returns nothing.
 */
const TRACK = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
`;

export class ConversationAdmin {
  private readonly renameScript;
  private readonly deleteScript;
  private readonly regenScript;
  private readonly replaceScript;
  private readonly trackScript;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    readonly ttlSeconds: number,
  ) {
    this.renameScript = luaScript(redis, 'gwRenameConversation', 1, RENAME);
    this.deleteScript = luaScript(redis, 'gwDeleteConversation', 4, DELETE);
    this.regenScript = luaScript(redis, 'gwOpenRegeneration', 4, OPEN_REGENERATION);
    this.replaceScript = luaScript(redis, 'gwReplaceTurn', 3, REPLACE_TURN);
    this.trackScript = luaScript(redis, 'gwTrackConversation', 1, TRACK);
  }

  /**
   * Moves a conversation to the top of its owner's list (a new job of it was accepted). The job itself is
   * listed for deletion by `ConversationStore.openTurn`, in the conversation's line; this is the owner's
   * slot, so its own command. Idempotent.
   */
  async track(owner: string, id: string, now = Date.now()): Promise<void> {
    await this.trackScript(this.keys.userConversations(owner), id, now, this.ttlSeconds);
  }

  /**
   * The owner's conversations, newest activity first, `limit` at a time. The cursor is the last item's
   * (score, id): stable while conversations move to the top between pages. Entries whose conversation
   * expired are dropped from the list on the way.
   */
  async list(
    owner: string,
    limit: number,
    cursor: string | null,
  ): Promise<{ conversations: ConversationSummary[]; next_cursor: string | null }> {
    const key = this.keys.userConversations(owner);
    let skipSame = cursor === null ? null : parseCursor(cursor);
    if (cursor !== null && skipSame === null) {
      throw new GatewayError('invalid_input', 'cursor is not one this server gave out', {
        details: [{ field: 'querystring.cursor', message: 'use next_cursor of the previous page' }],
      });
    }
    // One more than asked: tells whether another page follows.
    const want = limit + 1;
    const out: { summary: ConversationSummary; score: number }[] = [];
    let max = skipSame ? String(skipSame.score) : '+inf';
    for (;;) {
      const batch = want - out.length + 16;
      const raw = await this.redis.zrevrangebyscore(key, max, '-inf', 'WITHSCORES', 'LIMIT', 0, batch);
      const page: { id: string; score: number }[] = [];
      for (let i = 0; i + 1 < raw.length; i += 2) page.push({ id: raw[i]!, score: Number(raw[i + 1]) });
      // Same-score entries come in descending id order: those at or above the cursor's id were shown.
      const after = skipSame;
      const fresh = page.filter((e) => !(after && e.score === after.score && e.id >= after.id));
      const summaries = await Promise.all(fresh.map((e) => this.summary(owner, e.id, e.score)));
      const gone = fresh.filter((_, i) => summaries[i] === null).map((e) => e.id);
      if (gone.length > 0) await this.redis.zrem(key, ...gone);
      for (const [i, summary] of summaries.entries()) {
        if (summary && out.length < want) out.push({ summary, score: fresh[i]!.score });
      }
      const tail = page.at(-1);
      if (out.length >= want || page.length < batch || !tail) break;
      max = String(tail.score);
      skipSame = { score: tail.score, id: tail.id };
    }
    const more = out.length > limit;
    const shown = out.slice(0, limit);
    const last = shown.at(-1);
    return {
      conversations: shown.map((o) => o.summary),
      next_cursor: more && last ? makeCursor(last.score, last.summary.conversation_id) : null,
    };
  }

  private async summary(owner: string, id: string, score: number): Promise<ConversationSummary | null> {
    const [who, characterId, title, top] = await this.redis.hmget(
      this.keys.conversation(id),
      'owner',
      'character_id',
      'title',
      'next_turn',
    );
    if (who !== owner) return null;
    const last = await this.newestTurn(id, Number(top ?? 0));
    const text = last ? last.assistant || last.user : null;
    return {
      conversation_id: id,
      character_id: characterId || null,
      title: title || null,
      updated_at: new Date(score).toISOString(),
      last_message: text === null ? null : text.slice(0, PREVIEW_CHARS),
    };
  }

  private async newestTurn(id: string, top: number): Promise<TurnWithAlternatives | null> {
    const fields: string[] = [];
    for (let t = top; t >= Math.max(0, top - PREVIEW_LOOKBACK); t -= 1) fields.push(String(t));
    const raw = await this.redis.hmget(this.keys.conversationTurns(id), ...fields);
    const found = raw.find((r) => r !== null);
    return found ? (JSON.parse(found) as TurnWithAlternatives) : null;
  }

  /** Job ids in the conversation's line (queued or running turns; an ended one until it is released). */
  async pending(id: string): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.conversationPending(id), '(0', '+inf');
  }

  async title(id: string): Promise<string | null> {
    return (await this.redis.hget(this.keys.conversation(id), 'title')) || null;
  }

  async rename(owner: string, id: string, title: string): Promise<boolean> {
    const done = await this.renameScript(this.keys.conversation(id), owner, title);
    if (done === 1) await this.redis.zadd(this.keys.userConversations(owner), 'XX', Date.now(), id);
    return done === 1;
  }

  /** Deletes the conversation; returns its job ids (their records, events and audio are the caller's). */
  async remove(owner: string, id: string): Promise<string[] | AdminRefusal> {
    const r = (await this.deleteScript(
      this.keys.conversation(id),
      this.keys.conversationTurns(id),
      this.keys.conversationPending(id),
      this.keys.conversationJobs(id),
      owner,
    )) as string[];
    if (r[0] !== 'ok') return r[0] as AdminRefusal;
    await this.redis.zrem(this.keys.userConversations(owner), id);
    return r.slice(1);
  }

  /**
   * Puts job `jobId` in line to generate the newest stored turn again. Returns that turn, or why not:
   * not the owner's, a turn pending (busy), or no reply to regenerate (only the greeting).
   */
  async openRegeneration(
    owner: string,
    id: string,
    jobId: string,
  ): Promise<{ turn: TurnWithAlternatives } | AdminRefusal> {
    const r = (await this.regenScript(
      this.keys.conversation(id),
      this.keys.conversationTurns(id),
      this.keys.conversationPending(id),
      this.keys.conversationJobs(id),
      owner,
      jobId,
      this.ttlSeconds,
      PREVIEW_LOOKBACK,
    )) as [string, number?, string?];
    if (r[0] !== 'ok') return r[0] as AdminRefusal;
    await this.redis.zadd(this.keys.userConversations(owner), Date.now(), id);
    return { turn: JSON.parse(r[2]!) as TurnWithAlternatives };
  }

  /**
   * A regenerated reply joins its turn's alternatives and becomes the selected one. Safe to repeat (a
   * re-run job): a job's reply is added once.
   */
  async saveAlternative(
    id: string,
    turn: number,
    jobId: string,
    reply: string,
    now = Date.now(),
  ): Promise<void> {
    await this.change(id, turn, '', false, (t) => {
      const jobs = t.alternative_jobs ?? alternativesOf(t).map((_, i) => (i === 0 ? t.job_id : null));
      if (jobs.includes(jobId)) return null;
      const alternatives = [...alternativesOf(t), reply];
      return {
        ...t,
        alternatives,
        alternative_jobs: [...jobs, jobId],
        selected: alternatives.length - 1,
        assistant: reply,
        assistant_at: now,
      };
    });
  }

  /**
   * A new conversation's greeting (turn 0) gets the character's other greetings as alternatives, so a
   * user can swipe to another opening (SillyTavern `alternate_greetings`). Only once, the first stays
   * selected.
   */
  async addGreetingAlternatives(id: string, others: string[]): Promise<void> {
    await this.change(id, 0, '', false, (t) =>
      t.alternatives
        ? null
        : {
            ...t,
            alternatives: [t.assistant, ...others],
            alternative_jobs: [t.job_id, ...others.map(() => null)],
            selected: 0,
          },
    );
  }

  /**
   * Selects an alternative of message `index` (as GET /conversations/{id} numbers them) and/or replaces
   * its text. Returns the new message list, or why not.
   */
  async editMessage(
    owner: string,
    id: string,
    index: number,
    edit: { selected?: number | undefined; content?: string | undefined },
  ): Promise<ConversationMessage[] | AdminRefusal | 'no_message' | 'no_alternative'> {
    for (let tries = 0; tries < 5; tries += 1) {
      const turns = await this.turns(id);
      const at = locate(turns, index);
      if (!at) return 'no_message';
      const t = at.turn;
      let next: TurnWithAlternatives;
      if (at.role === 'user') {
        if (edit.selected !== undefined && edit.selected !== 0) return 'no_alternative';
        next = { ...t, user: edit.content ?? t.user };
      } else {
        const alternatives = [...alternativesOf(t)];
        const selected = edit.selected ?? selectedOf(t);
        if (selected < 0 || selected >= alternatives.length) return 'no_alternative';
        if (edit.content !== undefined) alternatives[selected] = edit.content;
        next = { ...t, alternatives, selected, assistant: alternatives[selected]! };
      }
      const r = await this.replaceScript(
        this.keys.conversation(id),
        this.keys.conversationTurns(id),
        this.keys.conversationPending(id),
        owner,
        t.turn,
        at.raw,
        JSON.stringify(next),
        '1',
      );
      if (r === -1) return 'not_found';
      if (r === -2) return 'busy';
      if (r === 1) {
        await this.redis.zadd(this.keys.userConversations(owner), 'XX', Date.now(), id);
        return this.messages(id);
      }
    }
    return 'busy';
  }

  private async change(
    id: string,
    turn: number,
    owner: string,
    idleOnly: boolean,
    update: (t: TurnWithAlternatives) => TurnWithAlternatives | null,
  ): Promise<void> {
    for (let tries = 0; tries < 10; tries += 1) {
      const raw = await this.redis.hget(this.keys.conversationTurns(id), String(turn));
      if (raw === null) return;
      const next = update(JSON.parse(raw) as TurnWithAlternatives);
      if (next === null) return;
      const r = await this.replaceScript(
        this.keys.conversation(id),
        this.keys.conversationTurns(id),
        this.keys.conversationPending(id),
        owner,
        turn,
        raw,
        JSON.stringify(next),
        idleOnly ? '1' : '0',
      );
      if (r !== 0) return;
    }
  }

  /** All stored turns, oldest first, with their stored JSON. */
  private async turns(id: string): Promise<{ turn: TurnWithAlternatives; raw: string }[]> {
    const all = await this.redis.hvals(this.keys.conversationTurns(id));
    return all
      .map((raw) => ({ turn: JSON.parse(raw) as TurnWithAlternatives, raw }))
      .sort((a, b) => a.turn.turn - b.turn.turn);
  }

  /**
   * What a job that keeps its stored character by reference reads when it runs: the character's persona
   * and lorebook as they are now (null: the owner deleted it meanwhile). Read from the owner's characters
   * hash (the api's CharacterStore writes it).
   */
  async storedCharacter(
    owner: string,
    id: string,
  ): Promise<{ persona: string | null; lorebook: Lorebook | null } | null> {
    const raw = await this.redis.hget(this.keys.characters(owner), id);
    if (!raw) return null;
    const c = JSON.parse(raw) as { persona?: string; lorebook?: Lorebook | null };
    return { persona: c.persona || null, lorebook: c.lorebook ?? null };
  }

  /**
   * The turns a prompt for turn `before` can use: at most `max` of the newest before it, read by turn
   * number (HMGET), so the work per turn does not grow with the length of the conversation.
   */
  async recentTurns(id: string, before: number, max: number): Promise<StoredTurn[]> {
    const from = Math.max(0, before - max);
    const fields: string[] = [];
    for (let t = from; t < before; t += 1) fields.push(String(t));
    if (fields.length === 0) return [];
    const raw = await this.redis.hmget(this.keys.conversationTurns(id), ...fields);
    return raw.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as StoredTurn);
  }

  /** The conversation as GET /conversations/{id} shows it: each message with its alternatives. */
  async messages(id: string): Promise<ConversationMessage[]> {
    const out: ConversationMessage[] = [];
    for (const { turn: t } of await this.turns(id)) {
      if (t.user !== null) {
        out.push({
          role: 'user',
          content: t.user,
          job_id: t.job_id,
          created_at: new Date(t.user_at).toISOString(),
          alternatives: [t.user],
          selected: 0,
        });
      }
      out.push({
        role: 'assistant',
        content: t.assistant,
        job_id: t.alternative_jobs?.[selectedOf(t)] ?? t.job_id,
        created_at: new Date(t.assistant_at).toISOString(),
        alternatives: alternativesOf(t),
        selected: selectedOf(t),
      });
    }
    return out;
  }
}

/** Message `index` of the flattened list (user then assistant, per turn). */
function locate(
  turns: { turn: TurnWithAlternatives; raw: string }[],
  index: number,
): { turn: TurnWithAlternatives; raw: string; role: 'user' | 'assistant' } | null {
  let i = 0;
  for (const t of turns) {
    if (t.turn.user !== null) {
      if (i === index) return { ...t, role: 'user' };
      i += 1;
    }
    if (i === index) return { ...t, role: 'assistant' };
    i += 1;
  }
  return null;
}

function makeCursor(score: number, id: string): string {
  return Buffer.from(`${score}:${id}`).toString('base64url');
}

function parseCursor(cursor: string): { score: number; id: string } | null {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const i = text.indexOf(':');
  const score = Number(text.slice(0, i));
  return i > 0 && Number.isFinite(score) ? { score, id: text.slice(i + 1) } : null;
}
