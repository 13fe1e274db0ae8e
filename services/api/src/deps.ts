import { type AudioStore, createAudioStore } from '@gateway/audio-store';
import type { Config } from '@gateway/config';
import type { LlmClient } from '@gateway/llm-clients';
import type { Logger } from '@gateway/logger';
import {
  BackendState,
  type ChatDispatcher,
  type ChatPool,
  type ConversationAdmin,
  type ConversationStore,
  createChatContext,
  createRedis,
  EventHub,
  type JobStore,
  type Keys,
  type QueueStats,
  type UserJobCounter,
  WorkerRegistry,
} from '@gateway/queue';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type AuthServices, createAuthServices } from './auth/services.js';
import { CharacterStore } from './characters/store.js';
import { PoolBackends } from './pool-backends.js';

/** Everything the api's routes use, built once per process from the configuration. */
export interface ApiDeps {
  config: Config;
  log: Logger;
  keys: Keys;
  /** Fails fast while Redis is away, so requests answer 503 instead of hanging. */
  redis: Redis;
  /** BullMQ's connection: waits for Redis rather than failing. */
  queueRedis: Redis;
  subscriber: Redis;
  jobs: JobStore;
  conversations: ConversationStore;
  /** Listing, renaming, deleting, swipes and edits of stored conversations. */
  conversationAdmin: ConversationAdmin;
  chatQueue: Queue;
  ttsQueue: Queue;
  dispatcher: ChatDispatcher;
  chatStats: QueueStats;
  llmWorkers: WorkerRegistry;
  ttsWorkers: WorkerRegistry;
  hub: EventHub;
  /** Synthesized speech (Redis or a directory), written by the tts-worker. */
  audio: AudioStore;
  backendState: BackendState;
  /** The GPU servers' queues, statistics and state (a pool of one without LLM_BACKENDS). */
  pool: ChatPool;
  /** Health and model lists of every server. */
  backends: PoolBackends;
  /** The first server's client (all there is in a pool of one). */
  llm: LlmClient | null;
  auth: AuthServices;
  characters: CharacterStore;
  userJobs: UserJobCounter;
  close(): Promise<void>;
}

export function createDeps(config: Config, log: Logger): ApiDeps {
  const redis = createRedis(config.redis.url, 'command');
  const queueRedis = createRedis(config.redis.url, 'blocking');
  const subscriber = createRedis(config.redis.url, 'subscriber');
  const retention = config.jobs.retentionSeconds;
  const chat = createChatContext({
    prefix: config.redis.prefix,
    retentionSeconds: retention,
    retry: { attempts: config.llm.maxAttempts, backoffMs: config.llm.backoffMs },
    fairShare: config.jobs.fairShare,
    redis,
    queueRedis,
    servers: config.llm.pool,
  });
  const { keys, jobs, conversations, chatQueue, ttsQueue, pool } = chat;
  const backends = new PoolBackends(config.llm.pool, pool, {
    timeoutMs: config.llm.timeoutMs,
    contextTokens: config.llm.maxContextTokens,
  });
  const llm = backends.clients.get(pool.names[0]!) ?? null;
  return {
    config,
    log,
    keys,
    redis,
    queueRedis,
    subscriber,
    jobs,
    conversations,
    conversationAdmin: chat.conversationAdmin,
    chatQueue,
    ttsQueue,
    dispatcher: chat.dispatcher,
    chatStats: chat.chatStats,
    llmWorkers: new WorkerRegistry(redis, keys, 'llm'),
    ttsWorkers: new WorkerRegistry(redis, keys, 'tts'),
    hub: new EventHub(subscriber, redis),
    audio: createAudioStore({ ...config.tts.store, redis, keys, ttlSeconds: retention }),
    backendState: new BackendState(redis, keys),
    pool,
    backends,
    llm,
    auth: createAuthServices(config, log, redis, keys),
    characters: new CharacterStore(redis, keys),
    userJobs: chat.userJobs,
    async close() {
      await Promise.allSettled([chat.close(), backends.close()]);
      subscriber.disconnect();
      await Promise.allSettled([redis.quit(), queueRedis.quit()]);
    },
  };
}
