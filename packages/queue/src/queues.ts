import { type ChatJobData, decodeChatJob } from '@gateway/contracts';
import { type ConnectionOptions, type Job, type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type Keys, QUEUE } from './keys.js';

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

/**
 * Options of every chat job: BullMQ keeps nothing after the end (our job record and event stream hold
 * the result, and nothing reads BullMQ's failed chat jobs), and retries back off exponentially with
 * jitter so a recovering backend is not stampeded. BullMQ stores these options in every job's hash.
 */
export function chatJobOptions(jobId: string, retry: RetryPolicy): JobsOptions {
  return {
    jobId,
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs, jitter: 0.5 },
    removeOnComplete: true,
    removeOnFail: true,
  };
}

/**
 * The chat job a BullMQ job holds: its compact data, with BullMQ's id and timestamp standing for the
 * job's id and creation time.
 */
export const chatJobOf = (job: Pick<Job, 'id' | 'data' | 'timestamp'>): ChatJobData =>
  decodeChatJob(job.data, { job_id: String(job.id), created_at: job.timestamp });

/**
 * Entries BullMQ keeps in a chat queue's event stream (its default is about 10,000, some 150 bytes each).
 * Nothing reads the chat queues' events (no QueueEvents listens to them; the speech queue keeps the
 * default because standalone speech waits on its events), so a million waiting jobs need not hold them.
 */
export const CHAT_EVENTS_MAX_LEN = 100;

/**
 * BullMQ priorities of speech jobs (lower number = sooner): a reply's realtime speech, then its delayed
 * speech, then standalone POST /v1/audio/speech requests, so that a program asking for bulk speech cannot
 * hold up the voices of chat replies.
 */
export const TTS_PRIORITY = { realtime: 1, delayed: 10, standalone: 20 } as const;

/** Speech jobs of replies: realtime before delayed (see TTS_PRIORITY). */
export function ttsJobOptions(
  chatJobId: string,
  mode: 'realtime' | 'delayed' | 'on_click',
  retry: RetryPolicy,
): JobsOptions {
  return {
    jobId: `${chatJobId}-tts`,
    priority: mode === 'delayed' ? TTS_PRIORITY.delayed : TTS_PRIORITY.realtime,
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs, jitter: 0.5 },
    removeOnComplete: true,
    removeOnFail: { age: 3_600, count: 10_000 },
  };
}

export function createQueue(
  name: string,
  connection: ConnectionOptions | Redis,
  keys: Keys,
  eventsMaxLen?: number,
): Queue {
  return new Queue(name, {
    connection: connection as ConnectionOptions,
    prefix: keys.prefix,
    ...(eventsMaxLen ? { streams: { events: { maxLen: eventsMaxLen } } } : {}),
  });
}

export const createChatQueue = (connection: ConnectionOptions | Redis, keys: Keys) =>
  createQueue(QUEUE.chat, connection, keys, CHAT_EVENTS_MAX_LEN);
export const createTtsQueue = (connection: ConnectionOptions | Redis, keys: Keys) =>
  createQueue(QUEUE.tts, connection, keys);
