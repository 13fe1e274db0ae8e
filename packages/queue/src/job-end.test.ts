import { randomUUID } from 'node:crypto';
import type { ChatJobData } from '@gateway/contracts';
import { afterAll, describe, expect, it } from 'vitest';
import { createChatContext } from './chat-context.js';
import { endJob } from './job-end.js';
import { createRedis } from './redis.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = createRedis(url, 'blocking');
const chat = createChatContext({
  prefix: `t${randomUUID().slice(0, 8)}`,
  retentionSeconds: 60,
  retry: { attempts: 2, backoffMs: 10 },
  fairShare: true,
  redis,
  queueRedis: redis,
});
const { keys } = chat;

afterAll(async () => {
  await chat.close();
  const all = await redis.keys(`${keys.prefix}:*`);
  if (all.length) await redis.del(...all);
  redis.disconnect();
});

/** Admits a turn the way the api does: user slot, fair-share ticket, conversation turn, record, queue. */
async function admit(owner: string, conversation: string, create: boolean): Promise<ChatJobData> {
  const jobId = randomUUID();
  expect((await chat.userJobs.acquire(owner, jobId, 10)).acquired).toBe(true);
  const priority = await chat.dispatcher.ticket(owner);
  const opened = await chat.conversations.openTurn({
    id: conversation,
    create,
    owner,
    characterId: null,
    greeting: null,
    jobId,
  });
  const data: ChatJobData = {
    job_id: jobId,
    owner,
    conversation_id: conversation,
    turn: opened!.turn,
    kind: 'roleplay',
    message: 'hi',
    character: { id: null, name: null, persona: null, voice_id: null, greeting: null },
    persona: null,
    scenario: null,
    model: 'm',
    temperature: 0.7,
    top_p: null,
    max_tokens: 16,
    tts: false,
    tts_mode: 'realtime',
    voice_id: null,
    created_at: Date.now(),
  };
  const now = opened!.head === jobId;
  await chat.jobs.create(data, { priority, storeRequest: !now });
  await chat.dispatcher.enqueueNew(data, priority, opened!.head);
  return data;
}

const waiting = async (owner: string) => Number(await redis.hget(keys.fairUser(owner), 'waiting'));

describe('endJob', () => {
  it('ends a waiting job once: slot back, fair-share count down once, next turn of the conversation queued', async () => {
    const owner = randomUUID();
    const conversation = randomUUID();
    const first = await admit(owner, conversation, true);
    const second = await admit(owner, conversation, false);
    expect(await chat.chatQueue.getJobState(second.job_id)).toBe('unknown'); // waits behind the first
    expect(await waiting(owner)).toBe(2);
    expect(await chat.userJobs.active(owner)).toBe(2);

    const job = { id: first.job_id, owner, conversationId: conversation };
    await chat.chatQueue.remove(first.job_id);
    const cancel = () =>
      endJob(chat, job, 'cancelled', {}, [{ event: 'done', data: { status: 'cancelled' } }]);
    const [a, b] = await Promise.all([cancel(), cancel()]);
    expect([a.finished, b.finished].sort()).toEqual([false, true]);

    expect(await waiting(owner)).toBe(1);
    expect(await chat.userJobs.active(owner)).toBe(1);
    expect(await chat.chatQueue.getJobState(second.job_id)).toBe('prioritized');
    const ended = await chat.jobs.get(first.job_id);
    expect(ended?.status).toBe('cancelled');
    // The second turn's request moved to the queue, which holds it; the record still has its copy.
    expect((await chat.jobs.get(second.job_id))?.data?.job_id).toBe(second.job_id);
  });
});
