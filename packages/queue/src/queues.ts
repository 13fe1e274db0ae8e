import { type ConnectionOptions, type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type Keys, QUEUE } from './keys.js';

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

/**
 * Options of every chat job: BullMQ keeps nothing after the end (our job record and event stream hold
 * the result), and retries back off exponentially with jitter so a recovering backend is not stampeded.
 */
export function chatJobOptions(jobId: string, retry: RetryPolicy): JobsOptions {
  return {
    jobId,
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs, jitter: 0.5 },
    removeOnComplete: true,
    removeOnFail: { age: 3_600, count: 10_000 },
  };
}

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

/**
 * BullMQ appends a few entries per job to each queue's event stream and keeps 10,000 by default. Nothing
 * reads a chat queue's stream (our own per-job streams carry what clients see; only the speech queue has a
 * QueueEvents reader, for standalone speech), so a chat queue keeps about 1,000: 160 bytes less per job
 * while a backlog waits.
 */
export const CHAT_EVENTS_MAX_LEN = 1_000;

export function createQueue(
  name: string,
  connection: ConnectionOptions | Redis,
  keys: Keys,
  eventsMaxLen?: number,
): Queue {
  return new Queue(name, {
    connection: connection as ConnectionOptions,
    prefix: keys.prefix,
    ...(eventsMaxLen === undefined ? {} : { streams: { events: { maxLen: eventsMaxLen } } }),
  });
}

export const createChatQueue = (connection: ConnectionOptions | Redis, keys: Keys) =>
  createQueue(QUEUE.chat, connection, keys, CHAT_EVENTS_MAX_LEN);
export const createTtsQueue = (connection: ConnectionOptions | Redis, keys: Keys) =>
  createQueue(QUEUE.tts, connection, keys);
