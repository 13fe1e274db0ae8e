import {
  type ChatJobData,
  decodeChatJob,
  encodeChatJob,
  type JobErrorInfo,
  type JobEvent,
  type JobStatus,
  type Reply,
  type TtsInfo,
} from '@gateway/contracts';
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { luaScript } from './lua.js';
import { CREATE_JOB, FINISH_JOB, PATCH_JOB, START_JOB } from './scripts.js';

/** What the gateway keeps about a chat job, beyond BullMQ's own (short-lived) job. */
export interface JobRecord {
  id: string;
  owner: string;
  conversationId: string;
  turn: number;
  kind: ChatJobData['kind'];
  status: JobStatus;
  attempt: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  reply: Reply | null;
  tts: TtsInfo | null;
  error: JobErrorInfo | null;
  cancelRequested: boolean;
  /** The fair-share priority it was given (0: none). */
  priority: number;
  /** The GPU server of the pool it was placed on (null: not placed yet, or a pool of one). */
  server: string | null;
  data: ChatJobData | null;
}

type ScriptReply = [number, string | number];
type FinishReply = [number, string, number?, number?, string?];

const eventArgs = (events: JobEvent[]) => events.flatMap((e) => [e.event, JSON.stringify(e.data)]);
const fieldArgs = (fields: Record<string, string | number>) => Object.entries(fields).flat();

const json = <T>(v: string | undefined): T | null => (v ? (JSON.parse(v) as T) : null);
const num = (v: string | undefined) => (v ? Number(v) : null);

export type StartResult = { started: true; attempt: number } | { started: false; status: string };
export interface FinishResult {
  /** This call ended the job (false: it had ended already, or its record is gone). */
  finished: boolean;
  status: string;
  /** Attempts started (0: it never ran). */
  attempt: number;
  /** Its fair-share priority (0: none). */
  priority: number;
  /** From its first start to this end, when this call ended it after a start. */
  runMs: number | null;
}

/** Job records and their event streams. Every write that also emits events is one atomic script. */
export class JobStore {
  private readonly createScript;
  private readonly startScript;
  private readonly finishScript;
  private readonly patchScript;

  constructor(
    private readonly redis: Redis,
    readonly keys: Keys,
    readonly ttlSeconds: number,
  ) {
    this.createScript = luaScript<number>(redis, 'gwCreateJob', 2, CREATE_JOB);
    this.startScript = luaScript<ScriptReply>(redis, 'gwStartJob', 2, START_JOB);
    this.finishScript = luaScript<FinishReply>(redis, 'gwFinishJob', 2, FINISH_JOB);
    this.patchScript = luaScript<number>(redis, 'gwPatchJob', 2, PATCH_JOB);
  }

  /**
   * Records a new job. `storeRequest: false` when the job goes onto the queue at once: BullMQ's job then
   * holds the request, and the record keeps only what polling shows (a turn that waits behind an earlier
   * one of its conversation keeps its request here until it is enqueued). With no events, the job's
   * stream is not created until it starts: a stream costs about 4.7 KB even with one entry.
   */
  async create(
    data: ChatJobData,
    extra: { tts?: TtsInfo | null; priority?: number; storeRequest?: boolean } = {},
    events: JobEvent[] = [],
  ): Promise<boolean> {
    // The id is the key's; a role-play job (the common kind) says nothing of its kind: a smaller record
    // for every waiting job (issue #15).
    const fields: Record<string, string | number> = {
      owner: data.owner,
      conversation_id: data.conversation_id,
      turn: data.turn,
      status: 'queued',
      created_at: data.created_at,
    };
    if (data.kind !== 'roleplay') fields.kind = data.kind;
    if (extra.storeRequest !== false) fields.data = JSON.stringify(encodeChatJob(data));
    if (extra.tts) fields.tts = JSON.stringify(extra.tts);
    if (extra.priority) fields.priority = extra.priority;
    const args = fieldArgs(fields);
    const created = await this.createScript(
      this.keys.job(data.job_id),
      this.keys.events(data.job_id),
      this.ttlSeconds,
      args.length,
      ...args,
      ...eventArgs(events),
    );
    return created === 1;
  }

  async get(id: string): Promise<JobRecord | null> {
    const h = await this.redis.hgetall(this.keys.job(id));
    // A record always has a status (a hash with only a late `cancel_requested` is not one).
    if (!h.status) return null;
    return {
      id,
      owner: h.owner ?? '',
      conversationId: h.conversation_id ?? '',
      turn: Number(h.turn ?? 0),
      kind: (h.kind as ChatJobData['kind']) ?? 'roleplay',
      status: (h.status as JobStatus) ?? 'queued',
      attempt: Number(h.attempt ?? 0),
      createdAt: Number(h.created_at ?? 0),
      startedAt: num(h.started_at),
      finishedAt: num(h.finished_at),
      reply: json<Reply>(h.reply),
      tts: json<TtsInfo>(h.tts),
      error: json<JobErrorInfo>(h.error),
      cancelRequested: h.cancel_requested === '1',
      priority: Number(h.priority ?? 0),
      server: h.server || null,
      data: h.data
        ? decodeChatJob(JSON.parse(h.data), { job_id: id, created_at: Number(h.created_at ?? 0) })
        : null,
    };
  }

  /** `server`: the pool server this worker runs it on; a job placed on another server is not started. */
  async start(id: string, now = Date.now(), server = ''): Promise<StartResult> {
    const [ok, value] = await this.startScript(
      this.keys.job(id),
      this.keys.events(id),
      this.ttlSeconds,
      now,
      server,
    );
    return ok === 1 ? { started: true, attempt: Number(value) } : { started: false, status: String(value) };
  }

  /**
   * Appends a running job's events (its tokens): one XADD each and nothing beside it, the hot path of
   * streaming. The stream's expiry was set when the job started; readers are woken by the append itself
   * (EventHub). A worker that lost its job stops on BullMQ's lock-renewal failure or the cancel channel,
   * and the end scripts refuse a second end, so no status check rides on every append.
   */
  async append(id: string, _attempt: number, events: JobEvent[]): Promise<boolean> {
    const stream = this.keys.events(id);
    await Promise.all(
      events.map((e) =>
        this.redis.xadd(stream, 'MAXLEN', '~', 20000, '*', 'e', e.event, 'd', JSON.stringify(e.data)),
      ),
    );
    return true;
  }

  async finish(
    id: string,
    status: Extract<JobStatus, 'completed' | 'failed' | 'cancelled'>,
    fields: { reply?: Reply; error?: JobErrorInfo; tts?: TtsInfo },
    events: JobEvent[],
    now = Date.now(),
  ): Promise<FinishResult> {
    const f: Record<string, string | number> = { finished_at: now };
    if (fields.reply) f.reply = JSON.stringify(fields.reply);
    if (fields.error) f.error = JSON.stringify(fields.error);
    if (fields.tts) f.tts = JSON.stringify(fields.tts);
    const args = fieldArgs(f);
    const [ok, value, attempt, priority, startedAt] = await this.finishScript(
      this.keys.job(id),
      this.keys.events(id),
      status,
      this.ttlSeconds,
      args.length,
      ...args,
      ...eventArgs(events),
    );
    return {
      finished: ok === 1,
      status: String(value),
      attempt: Number(attempt ?? 0),
      priority: Number(priority ?? 0),
      runMs: ok === 1 && startedAt ? now - Number(startedAt) : null,
    };
  }

  /**
   * Changes fields of a job whatever its status (speech after the reply). With a guard, the change and
   * its events happen at most once. Returns false when the guard was already set or the job is gone.
   */
  async patch(
    id: string,
    fields: Record<string, string | number>,
    events: JobEvent[],
    guard = '',
  ): Promise<boolean> {
    const args = fieldArgs(fields);
    const r = await this.patchScript(
      this.keys.job(id),
      this.keys.events(id),
      guard,
      this.ttlSeconds,
      args.length,
      ...args,
      ...eventArgs(events),
    );
    return r === 1;
  }

  async requestCancel(id: string): Promise<void> {
    await this.redis.hset(this.keys.job(id), 'cancel_requested', '1');
  }
}
