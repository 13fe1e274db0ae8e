import type { LlmClient } from '@gateway/llm-clients';
import type { StoredEvent } from '@gateway/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processChatJob } from './process-chat-job.js';
import { type ChatHarness, startChatHarness, storedAt, tokenText } from './testing/chat-harness.js';

/**
 * The contract of token events (EVENT_FLUSH_MS), seen where clients see it: the job's event stream in
 * Redis, whose entry ids carry the time each event was stored. The first token goes out at once, later
 * ones within the flush window (several to an event), in order, all of the text, the rest flushed at the
 * end before the reply.
 */

let h: ChatHarness;
beforeAll(async () => {
  h = await startChatHarness();
});
afterAll(() => h.close());

/** Slack for the event loop and one Redis round trip on a busy machine. */
const SLACK_MS = 60;

interface Received {
  at: number;
  /** Length of the whole text up to and including this token. */
  end: number;
}

/** The real client, noting when each token reached the worker. */
function timedClient(llm: LlmClient, received: Received[]): LlmClient {
  let text = 0;
  return Object.assign(Object.create(llm) as LlmClient, {
    chatStream: (req: Parameters<LlmClient['chatStream']>[0], opts: Parameters<LlmClient['chatStream']>[1]) =>
      llm.chatStream(req, {
        ...opts,
        onToken: (delta: string) => {
          text += delta.length;
          if (delta) received.push({ at: Date.now(), end: text });
          opts.onToken(delta);
        },
      }),
  });
}

async function run(eventFlushMs: number, sim: { ttftMs: number; tokenDelayMs: number; replyTokens: number }) {
  h.sim.configure(sim);
  const received: Received[] = [];
  const data = await h.submit({ max_tokens: sim.replyTokens + 8 });
  const started = Date.now();
  const out = await processChatJob(
    data,
    { ...h.deps({ eventFlushMs }), llm: timedClient(h.llm, received) },
    { attemptsMade: 0, maxAttempts: 1 },
  );
  const tookMs = Date.now() - started;
  if (out.outcome !== 'completed') throw new Error(`job ${out.outcome}`);
  const events = await h.events(data.job_id);
  return { reply: out.reply, events, tokens: events.filter((e) => e.event === 'token'), received, tookMs };
}

/** When each received token was stored: the first token event whose text reaches past it. */
function deliveries(received: Received[], tokens: StoredEvent[]): number[] {
  let end = 0;
  const stored = tokens.map((e) => {
    end += (JSON.parse(e.data) as { delta: string }).delta.length;
    return { at: storedAt(e), end };
  });
  return received.map((r) => {
    const event = stored.find((s) => s.end >= r.end);
    if (!event) throw new Error(`token ending at ${r.end} was never stored`);
    return event.at - r.at;
  });
}

describe('token events', () => {
  it('send the first token at once, without waiting for the flush window', async () => {
    const flushMs = 1_000;
    const { received, tokens } = await run(flushMs, { ttftMs: 20, tokenDelayMs: 20, replyTokens: 10 });
    const firstDelta = (JSON.parse(tokens[0]!.data) as { delta: string }).delta;
    expect(firstDelta.length).toBe(received[0]!.end);
    expect(storedAt(tokens[0]!) - received[0]!.at).toBeLessThan(SLACK_MS);
  });

  it('send later tokens within the flush window, several to an event, in order and complete', async () => {
    const flushMs = 100;
    const { reply, events, tokens, received } = await run(flushMs, {
      ttftMs: 10,
      tokenDelayMs: 10,
      replyTokens: 60,
    });
    expect(received.length).toBeGreaterThanOrEqual(50);
    for (const [i, lag] of deliveries(received, tokens).entries()) {
      expect(lag, `token ${i}`).toBeLessThanOrEqual(flushMs + SLACK_MS);
    }
    // Coalesced: about one event per window over the ~600 ms of streaming, not one per token.
    expect(tokens.length).toBeLessThan(received.length / 3);
    expect(tokenText(events)).toBe(reply.content);
    // Every token event comes before the reply.
    const replyAt = events.findIndex((e) => e.event === 'reply');
    expect(events.findLastIndex((e) => e.event === 'token')).toBeLessThan(replyAt);
  });

  it('flush what is left when the reply ends, without waiting for the window', async () => {
    const flushMs = 30_000;
    const { reply, events, tokens, tookMs } = await run(flushMs, {
      ttftMs: 10,
      tokenDelayMs: 5,
      replyTokens: 30,
    });
    expect(tookMs).toBeLessThan(flushMs / 3);
    // The first token at once, the rest at the end.
    expect(tokens).toHaveLength(2);
    expect(tokenText(events)).toBe(reply.content);
    expect(events.at(-1)?.event).toBe('done');
  });

  it('with EVENT_FLUSH_MS=0 send every token as its own event', async () => {
    const { reply, events, tokens, received } = await run(0, { ttftMs: 5, tokenDelayMs: 5, replyTokens: 20 });
    expect(tokens).toHaveLength(received.length);
    expect(tokenText(events)).toBe(reply.content);
  });
});
