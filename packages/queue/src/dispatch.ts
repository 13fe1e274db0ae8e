import type { ChatJobData } from '@gateway/contracts';
import type { ConversationStore } from './conversations.js';
import type { FairShare } from './fair-share.js';
import type { JobStore } from './job-store.js';

/** Puts a job on a chat queue: the pool's routing (`ChatPool.add`) picks which server's. */
export interface ChatPlacer {
  add(data: ChatJobData, priority: number): Promise<unknown>;
  /** True when the placer takes each job's fair-share ticket on the server it picks (a pool). */
  readonly ticketsOnPlacement?: boolean;
}

/**
 * Puts a conversation's next turn on the chat queue. A turn enters the queue only when every earlier
 * turn of its conversation has ended, so turns never overlap and each sees the previous reply. Both the
 * api (after a submit or cancel) and a worker (after a turn ends) call it; a job id already in the queue
 * is ignored by BullMQ, and a worker skips a job whose record has already ended.
 */
export class ChatDispatcher {
  constructor(
    private readonly placer: ChatPlacer,
    private readonly jobs: JobStore,
    private readonly conversations: ConversationStore,
    readonly fair: FairShare,
  ) {}

  /**
   * Takes the fair-share ticket of a new job of `owner`: its BullMQ priority, stored in its record at
   * creation so that every later add of the same job (api and worker racing on a conversation's next
   * turn) reuses it. 0 when fair share is off.
   */
  async ticket(owner: string): Promise<number> {
    // A pool takes the ticket on the server it places the job on.
    if (this.placer.ticketsOnPlacement) return 0;
    return (await this.fair.enqueue(owner)) ?? 0;
  }

  /**
   * Enqueues a just-created job when it heads its conversation (`head` as `openTurn` returned it); a
   * later turn waits in its conversation's line until the earlier ones end. Returns whether it enqueued.
   */
  async enqueueNew(data: ChatJobData, priority: number, head: string | null): Promise<boolean> {
    let first = head;
    while (first !== null && first !== data.job_id) {
      // A head whose record is gone or ended (a submit that died half way) must not block the line.
      const rec = await this.jobs.get(first);
      if (rec && (rec.status === 'queued' || rec.status === 'running')) return false;
      first = await this.conversations.releaseTurn(data.conversation_id, first);
    }
    await this.add(data, priority);
    return true;
  }

  /** After a turn ended: release it and enqueue the conversation's next pending turn, if any. */
  async advance(conversationId: string, endedJobId: string): Promise<string | null> {
    const next = await this.conversations.releaseTurn(conversationId, endedJobId);
    if (!next) return null;
    const rec = await this.jobs.get(next);
    if (rec?.status !== 'queued') {
      // Expired or already ended: drop it from the line and look further.
      return this.advance(conversationId, next);
    }
    // A record without its request went onto the queue when it was created (the queue holds the request).
    if (rec.data) await this.add(rec.data, rec.priority);
    return next;
  }

  private async add(data: ChatJobData, priority: number): Promise<void> {
    await this.placer.add(data, priority);
  }
}
