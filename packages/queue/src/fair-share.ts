import type { Redis } from 'ioredis';
import { type Keys, SINGLE_SERVER } from './keys.js';
import { luaScript } from './lua.js';

/**
 * Fair share of the GPU across users, on open-source BullMQ (which has no job groups): a job's priority is
 * its place among its OWNER's waiting jobs, scaled by the owner's weight. The queue then serves every
 * user's 1st waiting job, then every user's 2nd, and so on, so one user's burst cannot starve the others.
 *
 * How the numbers move (per user, atomically in one hash):
 * - enqueue: `waiting += 1`, `ticket += 1/weight`; the job's priority is `ceil(ticket * SCALE)`.
 * - a job leaves the waiting line (starts, is cancelled while waiting, or expires): `waiting -= 1`; the
 *   next enqueue after it reached 0 restarts the ticket. Tickets only grow while the user has waiting
 *   jobs, so a user's own jobs keep their FIFO order; a user with nothing waiting starts again at the front.
 * - a retried job re-enters with its old priority (BullMQ keeps it) and counts as waiting again.
 * BullMQ breaks ties between equal priorities by insertion order, so equal tickets are served FIFO.
 */
const SCALE = 16;
/** BullMQ's highest priority number (2^21); tickets beyond it share the last place. */
const MAX_PRIORITY = 2_097_152;

/**
 * KEYS: the user's counters, the user's weight (same slot). ARGV: ttl. Returns the new ticket. The first
 * waiting job (the count was 0: the line emptied, or the counters are new) restarts the ticket; leaving
 * does not reset it, so that the common leave is one command.
 */
const ENQUEUE = `
local weight = tonumber(redis.call('GET', KEYS[2]) or '1')
if not weight or weight <= 0 then weight = 1 end
local t
if redis.call('HINCRBY', KEYS[1], 'waiting', 1) <= 1 then
  t = tostring(1 / weight)
  redis.call('HSET', KEYS[1], 'waiting', 1, 'ticket', t)
else
  t = redis.call('HINCRBYFLOAT', KEYS[1], 'ticket', 1 / weight)
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return t
`;
/**
 * KEYS: the user's counters. ARGV: none. One waiting job left. Below zero the counters were gone (expired:
 * HINCRBY made a key without expiry) or had drifted: they are dropped, and the next enqueue starts
 * afresh. Returns the jobs still waiting.
 */
const LEAVE = `
local w = redis.call('HINCRBY', KEYS[1], 'waiting', -1)
if w < 0 then redis.call('DEL', KEYS[1]) end
return w
`;

export class FairShare {
  private readonly enqueueScript;
  private readonly leaveScript;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    readonly enabled: boolean,
    private readonly ttlSeconds = 7 * 86_400,
  ) {
    this.enqueueScript = luaScript(redis, 'gwFairEnqueue', 2, ENQUEUE);
    this.leaveScript = luaScript(redis, 'gwFairLeave', 1, LEAVE);
  }

  /**
   * The owner's counters: in a pool, one set per server, so that each server's line is fair on its own
   * (a user's backlog on one server does not push their job on another to the back).
   */
  private counters(owner: string, server?: string | null): string {
    return server && server !== SINGLE_SERVER
      ? this.keys.fairUserOn(owner, server)
      : this.keys.fairUser(owner);
  }

  /**
   * The BullMQ priority for a new waiting job of `owner` (on pool server `server`), or undefined when
   * fair share is off.
   */
  async enqueue(owner: string, server?: string | null): Promise<number | undefined> {
    if (!this.enabled) return undefined;
    const ticket = Number(
      await this.enqueueScript(this.counters(owner, server), this.keys.fairWeight(owner), this.ttlSeconds),
    );
    return Math.min(MAX_PRIORITY, Math.max(1, Math.ceil(ticket * SCALE)));
  }

  /** One of `owner`'s jobs left the waiting line (of pool server `server`). */
  async leave(owner: string, server?: string | null): Promise<void> {
    if (!this.enabled) return;
    await this.leaveScript(this.counters(owner, server));
  }

  async weight(owner: string): Promise<number> {
    const w = Number(await this.redis.get(this.keys.fairWeight(owner)));
    return Number.isFinite(w) && w > 0 ? w : 1;
  }

  async setWeight(owner: string, weight: number): Promise<void> {
    if (!(weight > 0 && weight <= 100)) throw new RangeError('weight must be in (0, 100]');
    await this.redis.set(this.keys.fairWeight(owner), String(weight));
  }
}
