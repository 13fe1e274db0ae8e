import type { JobErrorInfo, JobEvent, JobStatus, Reply, TtsInfo } from '@gateway/contracts';
import type { ChatDispatcher } from './dispatch.js';
import type { FinishResult, JobStore } from './job-store.js';
import type { QueueStats } from './queue-stats.js';

export type EndStatus = Extract<JobStatus, 'completed' | 'failed' | 'cancelled'>;

/** What ending a job needs; the llm-worker, the api's cancel and the stalled-job handler all pass theirs. */
export interface JobEndDeps {
  jobs: JobStore;
  dispatcher: ChatDispatcher;
  /** Run-time statistics (queue estimates); the api leaves them to the workers. */
  stats?: QueueStats | undefined;
  /** The owner's cap on queued plus running jobs (USER_MAX_ACTIVE_JOBS). */
  userJobs?: { release(owner: string, jobId: string): Promise<void> } | undefined;
}

export interface EndingJob {
  id: string;
  owner: string;
  conversationId: string;
  /** The pool server it was placed on (its fair-share line); null or absent in a pool of one. */
  server?: string | null;
}

/**
 * Ends a chat job, the one way every path does it (worker finish/fail/cancel, the api's cancel of a
 * waiting job, a job whose worker died too often):
 * 1. one script ends the record and appends its last events, at most once (a second end changes nothing);
 * 2. then, in parallel (other hash slots): the owner's slot is given back, the conversation's next turn
 *    is enqueued, a job that never started leaves its owner's fair-share waiting count, and a completed
 *    job's run time goes into the statistics. The last two happen only for the call that ended it; the
 *    first two are idempotent and always run, so a re-run after a crash repairs what a crash skipped.
 */
export async function endJob(
  deps: JobEndDeps,
  job: EndingJob,
  status: EndStatus,
  fields: { reply?: Reply; error?: JobErrorInfo; tts?: TtsInfo },
  events: JobEvent[],
  now = Date.now(),
): Promise<FinishResult> {
  const r = await deps.jobs.finish(job.id, status, fields, events, now);
  await afterJobEnd(deps, job, r);
  return r;
}

/** Step 2 of `endJob`, alone: for a job found already ended (a re-run), or after a gone record. */
export async function afterJobEnd(deps: JobEndDeps, job: EndingJob, r: FinishResult): Promise<void> {
  await Promise.all([
    deps.userJobs?.release(job.owner, job.id),
    deps.dispatcher.advance(job.conversationId, job.id),
    r.finished && r.attempt === 0 && r.priority > 0
      ? deps.dispatcher.fair.leave(job.owner, job.server)
      : null,
    r.finished && r.status === 'completed' && r.runMs !== null ? deps.stats?.recordJobTime(r.runMs) : null,
  ]);
}
