import { GatewayError } from '@gateway/contracts';
import { createLogger } from '@gateway/logger';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ChatJobDeps, processChatJob, toGatewayError } from './process-chat-job.js';
import { ReplySpeech } from './reply-speech.js';
import { type ChatHarness, startChatHarness, tokenText } from './testing/chat-harness.js';

let h: ChatHarness;
beforeAll(async () => {
  h = await startChatHarness({ ttftMs: 5, tokenDelayMs: 2, replyTokens: 24 });
});
afterAll(() => h.close());
beforeEach(() => {
  h.sim.configure({ ttftMs: 5, tokenDelayMs: 2, replyTokens: 24, faults: NO_FAULTS });
  h.sim.resetStats();
});

const NO_FAULTS = {
  errorRate: 0,
  hangRate: 0,
  dropRate: 0,
  streamErrorRate: 0,
  garbageRate: 0,
  stallRate: 0,
};
const once = { attemptsMade: 0, maxAttempts: 3 };
const lastAttempt = { attemptsMade: 2, maxAttempts: 3 };
const names = (events: { event: string }[]) => events.filter((e) => e.event !== 'token').map((e) => e.event);

describe('processChatJob', () => {
  it('streams the reply into the job events, stores the turn and completes the record', async () => {
    const data = await h.submit();
    const out = await processChatJob(data, h.deps(), once);
    expect(out.outcome).toBe('completed');
    const reply = out.outcome === 'completed' ? out.reply : null;
    expect(reply?.usage.completion_tokens).toBeGreaterThanOrEqual(24);
    expect(reply?.content.length).toBeGreaterThan(0);

    const events = await h.events(data.job_id);
    expect(names(events)).toEqual(['status', 'reply', 'done']);
    expect(tokenText(events)).toBe(reply?.content);
    expect(JSON.parse(events.at(-1)!.data)).toEqual({ status: 'completed' });
    const rec = await h.chat.jobs.get(data.job_id);
    expect(rec).toMatchObject({ status: 'completed', attempt: 1, reply, tts: { status: 'skipped' } });
    // The backend got the character and the user's message; the turn is stored for the next prompt.
    const sent = JSON.stringify(h.sim.requests().at(-1)?.body);
    expect(sent).toContain('a cheerful friend');
    expect(sent).toContain(data.message);
    const turns = await h.chat.conversations.turns(data.conversation_id);
    expect(turns.map((t) => [t.user, t.assistant])).toEqual([[data.message, reply?.content]]);
  });

  it('hands the reply to speech when speech follows, and leaves `done` to the tts-worker', async () => {
    const data = await h.submit({ tts: true, tts_mode: 'realtime' });
    const out = await processChatJob(data, h.deps(), once);
    expect(out.outcome).toBe('completed');
    expect(h.handedOff.filter((x) => x.jobId === data.job_id)).toHaveLength(1);
    expect(names(await h.events(data.job_id))).toEqual(['status', 'reply']);
    expect((await h.chat.jobs.get(data.job_id))?.tts).toMatchObject({ status: 'pending' });
  });

  it('a follow-up step that fails after the reply is stored is retried alone, never the generation', async () => {
    const data = await h.submit({ tts: true, tts_mode: 'realtime' });
    let handOffs = 0;
    const flaky: ChatJobDeps = {
      ...h.deps(),
      handOffTts: async () => {
        handOffs += 1;
        if (handOffs === 1)
          throw new GatewayError('redis_unavailable', 'connection lost while queuing speech');
      },
    };
    const first = await processChatJob(data, flaky, once);
    // BullMQ retries the job (the caller rethrows), but the record must stay ended.
    expect(first.outcome).toBe('retry');
    expect((await h.chat.jobs.get(data.job_id))?.status).toBe('completed');
    const again = await processChatJob(data, flaky, { attemptsMade: 1, maxAttempts: 3 });
    expect(again).toMatchObject({ outcome: 'already_ended', status: 'completed' });
    expect(handOffs).toBe(2);
    // One generation only: the backend was asked once, and one reply went out.
    expect(h.sim.stats()).toMatchObject({ completed: 1 });
    expect(names(await h.events(data.job_id)).filter((n) => n === 'reply')).toHaveLength(1);
  });

  it('honours a cancel: stops the backend request and ends the job cancelled', async () => {
    h.sim.configure({ tokenDelayMs: 40, replyTokens: 200 });
    const data = await h.submit();
    const abort = new AbortController();
    const running = processChatJob(data, h.deps({ eventFlushMs: 0 }), { ...once, signal: abort.signal });
    // Abort once text is flowing.
    const deadline = Date.now() + 10_000;
    while (tokenText(await h.events(data.job_id)).length === 0) {
      if (Date.now() > deadline) throw new Error('no token within 10 s');
      await new Promise<void>((r) => setImmediate(r));
    }
    // As the api cancels: the record says so first, then the worker's signal fires.
    await h.chat.jobs.requestCancel(data.job_id);
    abort.abort();
    const out = await running;
    expect(out.outcome).toBe('cancelled');
    const events = await h.events(data.job_id);
    expect(events.at(-1)).toMatchObject({ event: 'done' });
    expect(JSON.parse(events.at(-1)!.data)).toEqual({ status: 'cancelled' });
    expect(events.some((e) => e.event === 'reply')).toBe(false);
    expect((await h.chat.jobs.get(data.job_id))?.status).toBe('cancelled');
    // The simulator saw the client go before the reply ended.
    expect(h.sim.stats()).toMatchObject({ aborted: 1, completed: 0 });
    expect(await h.chat.conversations.turns(data.conversation_id)).toEqual([]);
  });

  it('maps a backend 500 to a retryable backend_server_error: retried while attempts remain, then failed', async () => {
    h.sim.configure({ faults: { errorRate: 1 } });
    const data = await h.submit();
    const first = await processChatJob(data, h.deps(), once);
    expect(first).toMatchObject({
      outcome: 'retry',
      error: { code: 'backend_server_error', retryable: true },
    });
    expect((await h.chat.jobs.get(data.job_id))?.status).toBe('queued');

    const last = await processChatJob(data, h.deps(), lastAttempt);
    expect(last).toMatchObject({ outcome: 'failed', error: { code: 'backend_server_error' } });
    const events = await h.events(data.job_id);
    const error = events.find((e) => e.event === 'error');
    expect(JSON.parse(error!.data)).toMatchObject({ code: 'backend_server_error' });
    expect(events.at(-1)).toMatchObject({ event: 'done' });
    expect(await h.chat.jobs.get(data.job_id)).toMatchObject({
      status: 'failed',
      error: { code: 'backend_server_error' },
    });
  });

  it('fails an unknown model at once as model_not_found, with no retry', async () => {
    const data = await h.submit({ model: 'no-such-model' });
    const out = await processChatJob(data, h.deps(), once);
    expect(out).toMatchObject({ outcome: 'failed', error: { code: 'model_not_found', retryable: false } });
    expect((await h.chat.jobs.get(data.job_id))?.error).toMatchObject({ code: 'model_not_found' });
  });

  it('maps a stream that breaks half way to backend_stream_error and keeps no half reply', async () => {
    h.sim.configure({ faults: { streamErrorRate: 1 } });
    const data = await h.submit();
    const out = await processChatJob(data, h.deps(), lastAttempt);
    expect(out).toMatchObject({ outcome: 'failed', error: { code: 'backend_stream_error' } });
    const rec = await h.chat.jobs.get(data.job_id);
    expect(rec).toMatchObject({ status: 'failed', reply: null });
    expect(await h.chat.conversations.turns(data.conversation_id)).toEqual([]);
  });

  it('does not run a job again once it has ended', async () => {
    const data = await h.submit();
    expect((await processChatJob(data, h.deps(), once)).outcome).toBe('completed');
    const requests = h.sim.stats().requests;
    expect(await processChatJob(data, h.deps(), once)).toEqual({
      outcome: 'already_ended',
      status: 'completed',
    });
    expect(h.sim.stats().requests).toBe(requests);
  });

  it('types anything else a job throws: retried worker_error, or cancelled once aborted', () => {
    const boom = toGatewayError(new TypeError('boom'));
    expect(boom).toMatchObject({ code: 'worker_error', retryable: true, message: 'boom' });
    const aborted = new AbortController();
    aborted.abort();
    expect(toGatewayError(new Error('x'), aborted.signal).code).toBe('cancelled');
    const typed = new GatewayError('context_too_long', 'long');
    expect(toGatewayError(typed)).toBe(typed);
  });
});

describe('speech while the reply streams', () => {
  it('sends the last sentence to speech when the stream ends, before the reply is stored and handed off', async () => {
    const data = await h.submit({ tts: true, tts_mode: 'realtime' });
    const order: string[] = [];
    let speech: ReplySpeech | null = null;
    const deps: ChatJobDeps = {
      ...h.deps(),
      replySpeech: (d, attempt) => {
        speech = new ReplySpeech(d, attempt, {
          sink: {
            chunk: async (_d, _a, n) => {
              order.push(`chunk ${n}`);
            },
            seal: async (_d, _a, total) => {
              order.push(`seal ${total}`);
            },
          },
          stripActions: true,
          maxChars: 2_000,
          log: createLogger({ service: 'test', level: 'silent' }),
        });
        return speech;
      },
      // As the llm-worker's hand-off does: the seal after the reply.
      handOffTts: async () => {
        order.push('hand-off');
        await speech?.finish();
      },
    };
    const out = await processChatJob(data, deps, once);
    expect(out.outcome).toBe('completed');
    const total = Number(order.at(-1)?.split(' ')[1]);
    expect(total).toBeGreaterThan(1);
    expect(order).toEqual([
      ...Array.from({ length: total }, (_, n) => `chunk ${n}`),
      'hand-off',
      `seal ${total}`,
    ]);
  });
});

describe('queuing speech of a streamed reply', () => {
  it('tries a failed add again, so one Redis hiccup loses neither a sentence nor the seal', async () => {
    const data = await h.submit({ tts: true, tts_mode: 'realtime' });
    const queued: string[] = [];
    const failedOnce = new Set<string>();
    // Each add fails the first time, as a command does when the connection drops for a moment.
    const flaky = async (what: string) => {
      if (!failedOnce.has(what)) {
        failedOnce.add(what);
        throw new Error('Connection is closed.');
      }
      queued.push(what);
    };
    const speech = new ReplySpeech(data, 1, {
      sink: { chunk: (_d, _a, n) => flaky(`chunk ${n}`), seal: (_d, _a, total) => flaky(`seal ${total}`) },
      stripActions: true,
      maxChars: 2_000,
      log: createLogger({ service: 'test', level: 'silent' }),
    });
    speech.onToken('First sentence is here. Second one follows it. ');
    speech.onEnd();
    expect(await speech.finish()).toBe(2);
    expect(queued).toEqual(['chunk 0', 'chunk 1', 'seal 2']);
  });
});
