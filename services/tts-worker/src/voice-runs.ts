/**
 * GPT-SoVITS holds one voice's weights at a time and loading another takes seconds, so a worker that
 * has voice A loaded serves the waiting A jobs before a B job: the B job steps aside (back to the queue
 * for a moment) while an A job at least as urgent waits. A job steps aside at most `maxDeferrals` times,
 * so a voice never starves; realtime jobs never wait behind delayed ones of the loaded voice.
 */

export interface WaitingJob {
  voice: string | null;
  /** BullMQ priority: lower runs sooner (realtime 1, delayed 10). */
  priority: number;
}

export interface DeferInput {
  jobVoice: string;
  jobPriority: number;
  loadedVoice: string | null;
  deferrals: number;
  maxDeferrals: number;
  waiting: WaitingJob[];
}

export function shouldDefer(i: DeferInput): boolean {
  if (i.loadedVoice === null || i.jobVoice === i.loadedVoice || i.deferrals >= i.maxDeferrals) return false;
  return i.waiting.some((w) => w.voice === i.loadedVoice && w.priority <= i.jobPriority);
}

/**
 * The urgency a voice run compares: a reply's first chunk (1) and its later chunks (2) are both realtime
 * speech. A weight switch costs seconds, more than first chunks could win by going ahead of a run.
 */
export const urgency = (priority: number) => (priority <= 2 ? 1 : priority);

/** How long a job that stepped aside stays out of the queue: long enough for the loaded voice's jobs. */
export const DEFER_MS = 250;
export const MAX_DEFERRALS = 8;
