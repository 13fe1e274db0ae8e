import type { ChatJobData } from '@gateway/contracts';
import type { Queue } from 'bullmq';
import type { ConversationStore } from './conversations.js';
import type { FairShare } from './fair-share.js';
import type { JobStore } from './job-store.js';
import { chatJobOptions, type RetryPolicy } from './queues.js';

/**
 * Puts a conversation's next turn on the chat queue. A turn enters the queue only when every earlier
 * turn of its conversation has ended, so turns never overlap and each sees the previous reply. Both the
 * api (after a submit or cancel) and a worker (after a turn ends) call it; a job id already in the queue
 * is ignored by BullMQ, and a worker skips a job whose record has already ended.
 */
export class ChatDispatcher {
  constructor(
    private readonly queue: Queue,
    private readonly jobs: JobStore,
    private readonly conversations: ConversationStore,
    private readonly retry: RetryPolicy,
    readonly fair: FairShare,
  ) {}

  /** Enqueues `data` now when it heads its conversation; returns whether it did. */
  async enqueueIfNext(data: ChatJobData): Promise<boolean> {
    for (;;) {
      const head = await this.conversations.head(data.conversation_id);
      if (head === null || head === data.job_id) break;
      // A head whose record is gone or ended (a submit that died half way) must not block the line.
      const rec = await this.jobs.get(head);
      if (rec && (rec.status === 'queued' || rec.status === 'running')) return false;
      await this.conversations.release(data.conversation_id, head);
    }
    await this.add(data);
    return true;
  }

  /** After a turn ended: release it and enqueue the conversation's next pending turn, if any. */
  async advance(conversationId: string, endedJobId: string): Promise<string | null> {
    await this.conversations.release(conversationId, endedJobId);
    const next = await this.conversations.head(conversationId);
    if (!next) return null;
    const rec = await this.jobs.get(next);
    if (!rec?.data || rec.status !== 'queued') {
      // Expired or already ended: drop it from the line and look further.
      return this.advance(conversationId, next);
    }
    await this.add(rec.data);
    return next;
  }

  private async add(data: ChatJobData): Promise<void> {
    const opts = chatJobOptions(data.job_id, this.retry);
    const priority = await this.priorityOf(data);
    await this.queue.add('chat', data, priority > 0 ? { ...opts, priority } : opts);
  }

  /**
   * The job's fair-share priority, taken once: a second add of the same job (api and worker racing to
   * enqueue a conversation's next turn) reuses it instead of counting the job as waiting twice.
   */
  private async priorityOf(data: ChatJobData): Promise<number> {
    const stored = await this.jobs.field(data.job_id, 'priority');
    if (stored !== null) return Number(stored);
    const priority = (await this.fair.enqueue(data.owner)) ?? 0;
    const claim = await this.jobs.claimField(data.job_id, 'priority', String(priority));
    if (!claim.claimed && priority > 0) await this.fair.leave(data.owner);
    return Number(claim.value ?? 0);
  }

  /** A job that was counted as waiting will never start (cancelled while queued). */
  async leftWithoutStarting(id: string, owner: string): Promise<void> {
    if (Number((await this.jobs.field(id, 'priority')) ?? 0) > 0) await this.fair.leave(owner);
  }
}
