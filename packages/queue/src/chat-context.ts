import type { Redis } from 'ioredis';
import { ConversationAdmin } from './conversation-admin.js';
import { ConversationStore } from './conversations.js';
import { ChatDispatcher } from './dispatch.js';
import { FairShare } from './fair-share.js';
import { JobStore } from './job-store.js';
import { createKeys, type Keys, SINGLE_SERVER } from './keys.js';
import { ChatPool, type PoolServerInfo } from './pool.js';
import { createTtsQueue, type RetryPolicy } from './queues.js';
import { UserJobCounter } from './user-jobs.js';

export interface ChatContextOptions {
  prefix: string;
  retentionSeconds: number;
  retry: RetryPolicy;
  fairShare: boolean;
  /** Our own commands (the api passes a fail-fast connection). */
  redis: Redis;
  /** BullMQ's connection (must wait for Redis rather than fail). */
  queueRedis: Redis;
  /** The GPU servers (config `llm.pool`); by default a pool of one. */
  servers?: readonly PoolServerInfo[];
}

/** Conversations outlive the jobs in them: a month of the job retention. */
const CONVERSATION_RETENTION_FACTOR = 30;

/** The chat pipeline's shared state in Redis, wired the same way in the api and in every llm-worker. */
export function createChatContext(o: ChatContextOptions) {
  const keys: Keys = createKeys(o.prefix);
  const jobs = new JobStore(o.redis, keys, o.retentionSeconds);
  const conversations = new ConversationStore(
    o.redis,
    keys,
    o.retentionSeconds * CONVERSATION_RETENTION_FACTOR,
  );
  const fair = new FairShare(o.redis, keys, o.fairShare);
  const pool = new ChatPool({
    servers: o.servers ?? [{ name: SINGLE_SERVER, concurrency: 1, models: null }],
    keys,
    redis: o.redis,
    queueRedis: o.queueRedis,
    retry: o.retry,
    fair,
  });
  const first = pool.names[0]!;
  const conversationAdmin = new ConversationAdmin(o.redis, keys, conversations.ttlSeconds);
  const ttsQueue = createTtsQueue(o.queueRedis, keys);
  return {
    keys,
    jobs,
    conversations,
    pool,
    conversationAdmin,
    /** The first server's queue and statistics (all there is in a pool of one). */
    chatQueue: pool.queue(first),
    ttsQueue,
    fair,
    dispatcher: new ChatDispatcher(pool, jobs, conversations, fair),
    chatStats: pool.stats(first),
    userJobs: new UserJobCounter(o.redis, keys, o.retentionSeconds),
    async close(): Promise<void> {
      await Promise.allSettled([pool.close(), ttsQueue.close()]);
    },
  };
}

export type ChatContext = ReturnType<typeof createChatContext>;
