import { type AudioStore, createAudioStore } from '@gateway/audio-store';
import type { Config } from '@gateway/config';
import { createLlmClient, type LlmClient } from '@gateway/llm-clients';
import type { Logger } from '@gateway/logger';
import {
  BackendState,
  type ChatDispatcher,
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
  });
  const { keys, jobs, conversations, chatQueue, ttsQueue } = chat;
  const llm = config.llm.baseUrl
    ? createLlmClient({
        service: config.llm.service,
        baseUrl: config.llm.baseUrl,
        timeoutMs: Math.min(config.llm.timeoutMs, 10_000),
        connections: 4,
        contextTokens: config.llm.maxContextTokens,
        ...(config.llm.apiKey ? { apiKey: config.llm.apiKey } : {}),
      })
    : null;
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
    llm,
    auth: createAuthServices(config, log, redis, keys),
    characters: new CharacterStore(redis, keys),
    userJobs: chat.userJobs,
    async close() {
      await Promise.allSettled([chat.close(), llm?.close()]);
      subscriber.disconnect();
      await Promise.allSettled([redis.quit(), queueRedis.quit()]);
    },
  };
}
