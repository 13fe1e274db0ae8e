import { randomUUID } from 'node:crypto';
import { type BackendSim, type SimOptions, startBackendSim } from '@gateway/backend-sim';
import { DEFAULT_MODELS } from '@gateway/config';
import type { ChatJobData, Reply } from '@gateway/contracts';
import { createLlmClient, type LlmClient } from '@gateway/llm-clients';
import { createLogger } from '@gateway/logger';
import { createChatContext, createRedis, readEvents, type StoredEvent } from '@gateway/queue';
import type { Redis } from 'ioredis';
import type { ChatJobDeps } from '../process-chat-job.js';

/**
 * What the llm-worker's own tests run against: the backend simulator in this process, a real Redis on a
 * fresh key prefix, and the chat pipeline's state wired as the worker wires it (createChatContext).
 */
export interface ChatHarness {
  sim: BackendSim;
  redis: Redis;
  llm: LlmClient;
  chat: ReturnType<typeof createChatContext>;
  /** Replies handed to speech, in order. */
  handedOff: { jobId: string; reply: Reply }[];
  deps(settings?: Partial<ChatJobDeps['settings']>): ChatJobDeps;
  /** Records a new job the way the api does (its conversation's turn opened first). */
  submit(over?: Partial<ChatJobData>): Promise<ChatJobData>;
  /** The job's stored events, in order: what an SSE client reads. */
  events(jobId: string): Promise<StoredEvent[]>;
  close(): Promise<void>;
}

export const REDIS_URL = () => process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export async function startChatHarness(sim: Omit<Partial<SimOptions>, 'kind'> = {}): Promise<ChatHarness> {
  const backend = await startBackendSim({ kind: 'vllm', ...sim });
  const redis = createRedis(REDIS_URL(), 'blocking');
  const prefix = `t${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  const chat = createChatContext({
    prefix,
    retentionSeconds: 600,
    retry: { attempts: 3, backoffMs: 100 },
    fairShare: false,
    redis,
    queueRedis: redis,
  });
  const llm = createLlmClient({ service: 'vllm', baseUrl: backend.url, timeoutMs: 10_000 });
  const handedOff: ChatHarness['handedOff'] = [];
  const log = createLogger({ service: 'llm-worker-test', level: 'silent' });
  return {
    sim: backend,
    redis,
    llm,
    chat,
    handedOff,
    deps: (settings = {}) => ({
      llm,
      jobs: chat.jobs,
      conversations: chat.conversations,
      history: chat.conversationAdmin,
      dispatcher: chat.dispatcher,
      stats: chat.chatStats,
      userJobs: chat.userJobs,
      handOffTts: async (data, reply) => {
        handedOff.push({ jobId: data.job_id, reply });
      },
      log,
      settings: { maxContextTokens: 4096, eventFlushMs: 25, ...settings },
    }),
    async submit(over = {}) {
      const jobId = randomUUID();
      const conversationId = over.conversation_id ?? randomUUID();
      const opened = await chat.conversations.openTurn({
        id: conversationId,
        create: over.conversation_id === undefined,
        owner: 'u1',
        characterId: null,
        greeting: null,
        jobId,
      });
      if (!opened) throw new Error(`conversation ${conversationId} not found`);
      const data: ChatJobData = {
        job_id: jobId,
        owner: 'u1',
        conversation_id: conversationId,
        turn: opened.turn,
        kind: 'roleplay',
        message: '안녕! 만나서 반가워.',
        character: { id: null, name: 'Mina', persona: 'a cheerful friend', voice_id: null, greeting: null },
        persona: null,
        scenario: null,
        model: DEFAULT_MODELS.vllm,
        temperature: 0.7,
        top_p: null,
        max_tokens: 256,
        tts: false,
        tts_mode: 'realtime',
        voice_id: null,
        created_at: Date.now(),
        ...over,
      };
      if (!(await chat.jobs.create(data))) throw new Error('job not created');
      return data;
    },
    events: (jobId) => readEvents(redis, chat.keys.events(jobId), null),
    async close() {
      await chat.close();
      await llm.close();
      await backend.close();
      const left = await redis.keys(`${prefix}:*`);
      for (let i = 0; i < left.length; i += 500) await redis.del(...left.slice(i, i + 500));
      redis.disconnect();
    },
  };
}

/** The text of a job's token events, in order. */
export const tokenText = (events: StoredEvent[]) =>
  events
    .filter((e) => e.event === 'token')
    .map((e) => (JSON.parse(e.data) as { delta: string }).delta)
    .join('');

/** Milliseconds since the epoch at which Redis stored an event (the first part of its stream id). */
export const storedAt = (e: StoredEvent) => Number(e.id.split('-')[0]);
