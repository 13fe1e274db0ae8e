import { type ChatJobData, encodeChatJob } from '@gateway/contracts';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { BackendState } from './backend-state.js';
import type { FairShare } from './fair-share.js';
import type { Keys } from './keys.js';
import { luaScript } from './lua.js';
import { QueueStats } from './queue-stats.js';
import { CHAT_EVENTS_MAX_LEN, chatJobOf, chatJobOptions, createQueue, type RetryPolicy } from './queues.js';
import { expectedWaitMs, type Route, route, type ServerLoad, servesModel } from './routing.js';

/**
 * KEYS: job record. ARGV: mode, expected server ('' = none yet), new server, attempt (mode `requeue`),
 * priority ('' = keep). Names the server a job runs on; the record is the one arbiter, so a job sitting in
 * two queues at once (a move half done, two dispatchers racing) still runs on one server only (START_JOB
 * checks it). The priority is the job's fair-share ticket on that server.
 * - `new`: a job not yet placed (no server), still queued.
 * - `move`: a waiting job leaves `expected` (its server failed, or an idle server takes it).
 * - `requeue`: a job cut off mid-generation on `expected`, at `attempt`, goes back to waiting elsewhere.
 * Returns {1, server, priority} when changed, else {0, the record's server ('' when gone), its priority}.
 */
const ASSIGN_SERVER = `
local h = redis.call('HMGET', KEYS[1], 'status', 'server', 'attempt', 'priority')
local current = h[2] or ''
local priority = tonumber(h[4] or '0')
if not h[1] then return {0, '', 0} end
if current ~= ARGV[2] then return {0, current, priority} end
if ARGV[1] == 'requeue' then
  if h[1] ~= 'running' or h[3] ~= ARGV[4] then return {0, current, priority} end
  redis.call('HSET', KEYS[1], 'status', 'queued', 'server', ARGV[3])
else
  if h[1] ~= 'queued' then return {0, current, priority} end
  redis.call('HSET', KEYS[1], 'server', ARGV[3])
end
if ARGV[5] ~= '' then
  priority = tonumber(ARGV[5])
  redis.call('HSET', KEYS[1], 'priority', priority)
end
return {1, ARGV[3], priority}
`;

/** KEYS: conversation meta. ARGV: server. Remembers where the conversation ran last (a gone one stays gone). */
const SET_AFFINITY = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'server', ARGV[1]) end
`;

export interface PoolServerInfo {
  name: string;
  concurrency: number;
  /** Configured models; null: the server's own list (see `discovered`). */
  models: readonly string[] | null;
}

export interface ChatPoolOptions {
  servers: readonly PoolServerInfo[];
  keys: Keys;
  /** Our own commands. */
  redis: Redis;
  /** BullMQ's connection. */
  queueRedis: Redis;
  retry: RetryPolicy;
  /** Fair share: in a pool, each job takes its ticket on the server it is placed on. */
  fair?: FairShare;
}

interface Member {
  info: PoolServerInfo;
  queue: Queue;
  stats: QueueStats;
  state: BackendState;
  /** What the server itself reported (for a server whose models are not configured). */
  discovered: readonly string[] | null;
}

/** How a job got where it is; logged by the caller. */
export type Placement = { server: string; route: Route['reason'] | 'already_placed' };

/**
 * The GPU servers of the gateway, each with its own BullMQ queue (own global concurrency, own hash slot),
 * statistics and up/down state. Places each job on one server (routing.ts decides), moves waiting jobs
 * off a failed server, and hands a job cut off mid-generation to another server. A pool of one does none
 * of the reads or writes routing needs: it places every job on its one queue, as before pools existed.
 */
export class ChatPool {
  private readonly members = new Map<string, Member>();
  /** Jobs this process has routed but not yet put on their server's queue. */
  private readonly placing = new Map<string, number>();
  private readonly assign;
  private readonly affinity;

  constructor(private readonly o: ChatPoolOptions) {
    for (const info of o.servers) {
      const name = o.keys.chatQueue(info.name);
      this.members.set(info.name, {
        info,
        queue: createQueue(name, o.queueRedis, o.keys, CHAT_EVENTS_MAX_LEN),
        stats: new QueueStats(o.redis, o.keys, name, o.keys.serverStats(info.name)),
        state: new BackendState(o.redis, o.keys, o.keys.serverState(info.name)),
        discovered: null,
      });
    }
    this.assign = luaScript(o.redis, 'gwAssignServer', 1, ASSIGN_SERVER);
    this.affinity = luaScript(o.redis, 'gwSetAffinity', 1, SET_AFFINITY);
  }

  get names(): string[] {
    return [...this.members.keys()];
  }

  get single(): boolean {
    return this.members.size === 1;
  }

  /** A pool takes each job's fair-share ticket on the server it picks (see `ChatPlacer`). */
  get ticketsOnPlacement(): boolean {
    return !this.single;
  }

  /** The owner's fair-share ticket on `server` (0: fair share off). */
  private async ticket(owner: string, server: string): Promise<number> {
    return (await this.o.fair?.enqueue(owner, server)) ?? 0;
  }

  private async leaveLine(owner: string, server: string, priority: number): Promise<void> {
    if (priority > 0) await this.o.fair?.leave(owner, server);
  }

  private member(server: string): Member {
    const m = this.members.get(server);
    if (!m) throw new Error(`no server named ${server} in the pool`);
    return m;
  }

  queue(server: string): Queue {
    return this.member(server).queue;
  }

  stats(server: string): QueueStats {
    return this.member(server).stats;
  }

  state(server: string): BackendState {
    return this.member(server).state;
  }

  concurrency(server: string): number {
    return this.member(server).info.concurrency;
  }

  /** Records the models a server reported (used when its entry lists none). */
  setDiscovered(server: string, models: readonly string[] | null): void {
    this.member(server).discovered = models;
  }

  /**
   * Keeps the model lists of servers listed without `models` fresh: asks each (`list`, the server's
   * `/v1/models` or `/api/tags`) now and every `everyMs`; a failed ask keeps the last list. Returns a stop.
   */
  watchModels(lists: Record<string, () => Promise<string[]>>, everyMs = 30_000): () => void {
    const ask = () => {
      for (const [server, list] of Object.entries(lists)) {
        if (this.member(server).info.models) continue;
        list().then(
          (models) => this.setDiscovered(server, models),
          () => {},
        );
      }
    };
    ask();
    const timer = setInterval(ask, everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** The models a server serves: configured, else as it reported them; null while unknown. */
  modelsOf(server: string): readonly string[] | null {
    const m = this.member(server);
    return m.info.models ?? m.discovered;
  }

  /** Load and health of every server, read fresh (pipelined: one round trip). */
  async load(): Promise<ServerLoad[]> {
    const { redis, keys } = this.o;
    return Promise.all(
      [...this.members.values()].map(async (m) => {
        const q = keys.chatQueue(m.info.name);
        const [wait, prioritized, active, state, stats] = await Promise.all([
          redis.llen(keys.bull(q, 'wait')),
          redis.zcard(keys.bull(q, 'prioritized')),
          redis.llen(keys.bull(q, 'active')),
          redis.hget(keys.serverState(m.info.name), 'status'),
          redis.hmget(keys.serverStats(m.info.name), 'gap_ms', 'avg_ms'),
        ]);
        return {
          name: m.info.name,
          models: this.modelsOf(m.info.name),
          concurrency: m.info.concurrency,
          healthy: state !== 'down',
          waiting: wait + prioritized,
          running: active,
          slotGapMs: stats[0] ? Number(stats[0]) : null,
          avgJobMs: stats[1] ? Number(stats[1]) : null,
        };
      }),
    );
  }

  /**
   * Where a job would go now. With `reserve`, the chosen server counts one more waiting job in this
   * process until `release` (after the job is on its queue): a burst of concurrent submissions would
   * otherwise all read the same load and all pick the same server.
   */
  async pick(
    data: Pick<ChatJobData, 'model' | 'conversation_id' | 'kind'>,
    exclude?: string,
    reserve = false,
  ): Promise<Route> {
    if (this.single && !exclude) return { server: this.names[0]!, reason: 'shortest_wait' };
    const [servers, affinity] = await Promise.all([
      this.load(),
      data.kind === 'roleplay'
        ? this.o.redis.hget(this.o.keys.conversation(data.conversation_id), 'server')
        : Promise.resolve(null),
    ]);
    for (const s of servers) s.waiting += this.placing.get(s.name) ?? 0;
    const r = route(servers, { model: data.model, affinity, exclude: exclude ?? null });
    if (reserve && r.server) this.placing.set(r.server, (this.placing.get(r.server) ?? 0) + 1);
    return r;
  }

  private release(server: string | null): void {
    if (server) this.placing.set(server, Math.max(0, (this.placing.get(server) ?? 0) - 1));
  }

  /**
   * Puts a job on a server's queue: the routed one, or the one its record already names (a second add of
   * the same job, from the api and a worker racing on a conversation's next turn, lands in the same queue,
   * where BullMQ ignores the known job id). Also remembers the server as the conversation's (affinity).
   */
  async add(data: ChatJobData, priority: number): Promise<Placement> {
    let placement: Placement;
    if (this.single) {
      placement = { server: this.names[0]!, route: 'shortest_wait' };
    } else {
      const r = await this.pick(data, undefined, true);
      try {
        // A model no server serves was refused at submission; a pool changed since then keeps the job on
        // the first server, where it fails with the backend's own error instead of vanishing.
        const chosen = r.server ?? this.names[0]!;
        // Its fair-share ticket on the chosen server's line (given back if another add placed it first).
        const ticket = await this.ticket(data.owner, chosen);
        const [ok, current, recorded] = (await this.assign(
          this.o.keys.job(data.job_id),
          'new',
          '',
          chosen,
          0,
          ticket > 0 ? ticket : '',
        )) as [number, string, number];
        if (ok !== 1) await this.leaveLine(data.owner, chosen, ticket);
        placement =
          ok === 1 || !current
            ? { server: chosen, route: r.reason }
            : { server: current, route: 'already_placed' };
        if (!this.members.has(placement.server)) placement = { server: chosen, route: r.reason };
        const prio = ok === 1 ? ticket : Number(recorded) || priority;
        await Promise.all([
          this.remember(data, placement.server),
          this.enqueue(placement.server, data, prio),
        ]);
      } finally {
        this.release(r.server);
      }
      return placement;
    }
    await this.enqueue(placement.server, data, priority);
    return placement;
  }

  /** The conversation's next turn goes where this one runs (a role-play conversation only). */
  private async remember(data: ChatJobData, server: string): Promise<void> {
    if (data.kind === 'roleplay') await this.affinity(this.o.keys.conversation(data.conversation_id), server);
  }

  private async enqueue(server: string, data: ChatJobData, priority: number): Promise<void> {
    // BullMQ's timestamp stands for the job's creation time (its data leaves it out). A fresh job's add
    // is within milliseconds of it; a job that moves or waited behind its conversation's earlier turns
    // names it (an option BullMQ then stores, so only those pay for it).
    const base = chatJobOptions(data.job_id, this.o.retry);
    const opts = Date.now() - data.created_at > 1_000 ? { ...base, timestamp: data.created_at } : base;
    await this.queue(server).add('chat', encodeChatJob(data), priority > 0 ? { ...opts, priority } : opts);
  }

  /** A copy of a job found on the wrong queue (its record names `server`): put it where it belongs. */
  async forward(server: string, data: ChatJobData, priority: number): Promise<void> {
    await this.enqueue(server, data, priority);
  }

  /**
   * Failover of waiting jobs: moves the jobs waiting on `from` (its breaker is open) to the healthy
   * servers that serve their models, up to `limit` per call. A job that no healthy server can take stays.
   * Safe to run from several workers at once: the record says which server a job belongs to, and a copy
   * left behind is forwarded by the worker that takes it. Returns how many moved.
   */
  async moveWaiting(from: string, limit = 500): Promise<number> {
    const q = this.queue(from);
    const waiting = await q.getJobs(['prioritized', 'wait'], 0, limit - 1, true);
    let moved = 0;
    for (const job of waiting) {
      if (!job?.id) continue;
      const data = chatJobOf(job);
      const r = await this.pick(data, from, true);
      if (!r.server || r.reason === 'none_healthy') {
        this.release(r.server);
        continue;
      }
      let ok = 0;
      let current = '';
      let ticket = 0;
      try {
        ticket = (job.opts.priority ?? 0) > 0 ? await this.ticket(data.owner, r.server) : 0;
        [ok, current] = (await this.assign(
          this.o.keys.job(job.id),
          'move',
          from,
          r.server,
          0,
          ticket > 0 ? ticket : '',
        )) as [number, string];
      } catch (err) {
        this.release(r.server);
        throw err;
      }
      if (ok === 1) {
        // It leaves `from`'s line for the new server's, with a ticket of that line.
        await Promise.all([
          this.remember(data, r.server),
          this.enqueue(r.server, data, ticket || (job.opts.priority ?? 0)),
          this.leaveLine(data.owner, from, job.opts.priority ?? 0),
        ]).finally(() => this.release(r.server));
        moved++;
      } else {
        await this.leaveLine(data.owner, r.server, ticket);
        this.release(r.server);
      }
      if (ok !== 1 && current === from) {
        // Running or ended meanwhile: not ours to move.
        continue;
      }
      // Moved (by us or by another worker) or gone: the copy here must not wait for the dead server.
      await job.remove().catch(() => {});
    }
    return moved;
  }

  /**
   * A job cut off mid-generation on `from` (attempt `attempt`) goes back to waiting on another healthy
   * server that serves its model; it runs there as attempt + 1. Null when none can take it (the caller
   * then lets it wait for `from`).
   */
  async handOver(data: ChatJobData, priority: number, from: string, attempt: number): Promise<string | null> {
    if (this.single) return null;
    const r = await this.pick(data, from, true);
    try {
      if (!r.server || r.reason === 'none_healthy') return null;
      // It keeps its priority, as a retried job does (it left its line when it started).
      const [ok] = (await this.assign(
        this.o.keys.job(data.job_id),
        'requeue',
        from,
        r.server,
        attempt,
        '',
      )) as [number, string];
      if (ok !== 1) return null;
      await Promise.all([this.remember(data, r.server), this.enqueue(r.server, data, priority)]);
      return r.server;
    } finally {
      this.release(r.server);
    }
  }

  /**
   * Work stealing: when `to` has free slots and nothing waiting while other servers serving the same
   * models have a line, it takes jobs from the heads of those lines (the longest expected wait first). This
   * evens out what routing at admission cannot foresee: replies of very different lengths, and the end
   * of a backlog, where one server would otherwise sit idle while another still has jobs waiting. Only
   * jobs that no conversation ties to their server move: OpenAI-facade jobs and the first turn of a
   * conversation. Returns how many moved.
   */
  async steal(to: string): Promise<number> {
    if (this.single) return 0;
    const q = this.o.keys.chatQueue(to);
    // The cheap check first: while `to` has its own line, there is nothing to steal.
    const [wait, prioritized] = await Promise.all([
      this.o.redis.llen(this.o.keys.bull(q, 'wait')),
      this.o.redis.zcard(this.o.keys.bull(q, 'prioritized')),
    ]);
    if (wait + prioritized > 0) return 0;
    const servers = await this.load();
    const me = servers.find((s) => s.name === to);
    const models = this.modelsOf(to);
    if (!me?.healthy || !models) return 0;
    let free = me.concurrency - me.running - me.waiting - (this.placing.get(to) ?? 0);
    const donors = servers
      .filter((s) => s.name !== to && s.waiting > 0)
      .sort((a, b) => expectedWaitMs(b) - expectedWaitMs(a));
    let moved = 0;
    for (const donor of donors) {
      if (free <= 0) break;
      const heads = await this.queue(donor.name).getJobs(['prioritized', 'wait'], 0, free * 2 - 1, true);
      for (const job of heads) {
        if (free <= 0) break;
        const data = job?.id ? chatJobOf(job) : undefined;
        if (!job?.id || !data || !servesModel(models, data.model)) continue;
        if (data.kind === 'roleplay' && data.turn > 1) continue;
        const ticket = (job.opts.priority ?? 0) > 0 ? await this.ticket(data.owner, to) : 0;
        const [ok] = (await this.assign(
          this.o.keys.job(job.id),
          'move',
          donor.name,
          to,
          0,
          ticket > 0 ? ticket : '',
        )) as [number, string];
        if (ok !== 1) {
          await this.leaveLine(data.owner, to, ticket);
          continue;
        }
        free--;
        moved++;
        await Promise.all([
          this.remember(data, to),
          this.enqueue(to, data, ticket || (job.opts.priority ?? 0)),
          this.leaveLine(data.owner, donor.name, job.opts.priority ?? 0),
        ]);
        // A copy the donor's worker takes meanwhile is forwarded, not run (the record names `to`).
        await job.remove().catch(() => {});
      }
    }
    return moved;
  }

  /** Jobs waiting over all servers. */
  async depth(): Promise<number> {
    const all = await Promise.all([...this.members.values()].map((m) => m.stats.depth()));
    return all.reduce((a, b) => a + b, 0);
  }

  /** The server a job was placed on (the pool of one's when not recorded). */
  async serverOf(jobId: string): Promise<string> {
    if (this.single) return this.names[0]!;
    const s = await this.o.redis.hget(this.o.keys.job(jobId), 'server');
    return s && this.members.has(s) ? s : this.names[0]!;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.members.values()].map((m) => m.queue.close()));
  }
}
