/**
 * The Redis budget of a chat job (issue #15): commands counted by a private redis-server (INFO
 * commandstats, scripts' inner commands included) for jobs through the user flow (POST /chat/jobs, then
 * the events stream to `done`, TTS off), beside bare BullMQ doing the same queue work in the same run,
 * and the cost of one more streamed token at a GPU-like pace. Counts are deterministic, unlike times.
 */
import type { ChatJobAccepted } from '@gateway/contracts';
import { createKeys, QUEUE } from '@gateway/queue';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bareBullmq, type Cost, measure } from '../bench/support/redis-cost.js';
import { call, readSse, waitFor } from './support/http.js';
import { type PrivateRedisStack, startOnPrivateRedis } from './support/private-redis.js';
import type { RedisServer } from './support/redis-server.js';
import type { Stack } from './support/stack.js';

/**
 * What this test holds the gateway to, as a multiple of bare BullMQ measured in the same run. The
 * issue's target is 2x. The gateway measures 144.8-146.3 commands per job (it was 150, and 2.99x before
 * that); bare BullMQ 60.1-69.0, as its worker fetches 3 to 4 times per job depending on timing, so the
 * ratio reads 2.18-2.43x. The bound guards what was reached, with 0.1x over the worst case of that
 * spread for timers (a queue-position read when a job still waits as its stream opens, blocked reads
 * timing out).
 */
const BUDGET = { commandsPerJob: 2.55 };
/**
 * Per extra streamed token, when each token is its own flush window (30 ms > EVENT_FLUSH_MS): the worker
 * writes one XADD, and the api's blocking XREAD that fans it out is the only other command (with one
 * stream open; under load one XREAD serves every stream of the process).
 */
const TOKEN_BUDGET = { writes: 1, commands: 2.2 };

const JOBS = 10;

describe('Redis cost per chat job', () => {
  let private_: PrivateRedisStack | undefined;
  let server: RedisServer;
  let stack: Stack;
  let probe: Redis;
  let headers: Record<string, string>;
  let conversation: string | undefined;

  beforeAll(async () => {
    ({ server, stack, probe, headers } = private_ = await startOnPrivateRedis({
      kind: 'vllm',
      sim: { replyTokens: 24 },
      env: { LLM_CONCURRENCY: '8' },
    }));
  });
  afterAll(() => private_?.stop());

  /** One turn as a user takes it: submit, then follow the events to `done`. Returns the tokens seen. */
  const turn = async (extra: Record<string, unknown> = {}) => (await followTurn(extra)).tokens;
  const followTurn = async (extra: Record<string, unknown> = {}) => {
    const res = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
      body: { message: 'hello there', ...(conversation ? { conversation_id: conversation } : {}), ...extra },
      headers,
    });
    expect(res.status).toBe(202);
    conversation = res.body.conversation_id;
    const events = await readSse(`${stack.apiUrl}/chat/jobs/${res.body.job_id}/events`, {
      headers,
      until: (e) => e.event === 'done',
    });
    expect(events.at(-1)?.data).toContain('completed');
    return { jobId: res.body.job_id, tokens: events.filter((e) => e.event === 'token').length };
  };
  /**
   * Entries the worker appended to the jobs' own event streams: each XADD appends exactly one entry, so
   * this counts the job-stream writes alone. (commandstats' XADD total also holds BullMQ's own event
   * stream, whose trailing `drained`/`completed` entries land inside or after a window as timing makes
   * them, and once read 1.03 a token.) Read after the window, so it adds nothing to the counts.
   */
  const jobStreamEntries = async (jobIds: readonly string[]) => {
    let n = 0;
    for (const id of jobIds) n += await probe.xlen(`${stack.prefix}:ev:{${id}}`);
    return n;
  };

  /**
   * Waits until the worker has handed every job back to BullMQ (its active list is empty). A job's `done`
   * reaches the client before the worker's moveToFinished, so without this a run's edges would count
   * one job's end (about 20 commands) more or less. Returns the reads it made, to take them out again.
   */
  const workerIdle = async () => {
    const active = createKeys(stack.prefix).bull(QUEUE.chat, 'active');
    let reads = 0;
    await waitFor(
      () => {
        reads++;
        return probe.llen(active);
      },
      (n) => n === 0,
    );
    return reads;
  };

  /**
   * `measure` between two idle points of the worker: every job of the window is counted whole, from its
   * submit to BullMQ's end of it, and the active-list reads of the wait are taken out again.
   */
  const measureSettled = async (units: number, work: () => Promise<void>): Promise<Cost> => {
    await workerIdle();
    let reads = 0;
    const c = await measure(probe, units, async () => {
      await work();
      reads = await workerIdle();
    });
    c.commands -= reads / units;
    c.byCommand.llen = (c.byCommand.llen ?? 0) - reads;
    return c;
  };

  const show = (what: string, c: Cost) =>
    console.log(
      `${what}: ${c.commands.toFixed(1)} commands, ${c.cpuUs.toFixed(0)} µs Redis CPU; ${JSON.stringify(c.byCommand)}`,
    );

  it(`a chat job costs at most ${BUDGET.commandsPerJob}x the commands of bare BullMQ`, async () => {
    for (let i = 0; i < 3; i++) await turn(); // scripts loaded, connections warm
    const gateway = await measureSettled(JOBS, async () => {
      for (let i = 0; i < JOBS; i++) await turn();
    });
    const bare = await bareBullmq(server.url, JOBS);
    show('gateway per job', gateway);
    show('bare BullMQ per job', bare);
    console.log(`ratio: ${(gateway.commands / bare.commands).toFixed(2)}x`);
    const top = Object.entries(gateway.usecByCommand).sort((a, b) => b[1] - a[1]);
    console.log(
      `gateway execution time by command (µs over ${JOBS} jobs): ${JSON.stringify(top.slice(0, 12))}`,
    );
    console.log(`bare BullMQ script time: ${bare.usecByCommand.evalsha} µs over ${JOBS} jobs`);
    expect(gateway.commands).toBeLessThanOrEqual(BUDGET.commandsPerJob * bare.commands);
    // Cheaper expiry must not mean none: after the run every key of the gateway has a TTL, except the
    // queues' own (one of each per queue, not per job or user).
    const lasting = new Set([
      '{chat}:events',
      '{chat}:id',
      '{chat}:meta',
      '{tts}:meta',
      'stats:{chat}',
      'workers:llm',
    ]);
    const forever: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await probe.scan(cursor, 'MATCH', `${stack.prefix}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of found) {
        if ((await probe.ttl(key)) === -1 && !lasting.has(key.slice(stack.prefix.length + 1)))
          forever.push(key);
      }
    } while (cursor !== '0');
    expect(forever).toEqual([]);
  });

  it(`one more streamed token at 30 ms a token costs one write (${TOKEN_BUDGET.commands} commands with the fan-out read)`, async () => {
    // 64-token replies against 4-token ones: 180 extra tokens over the two windows, so that one more
    // BullMQ fetch cycle landing in either window (about 12 commands, as timing makes it) moves the
    // per-token figure by under 0.07 instead of the 0.2 it moved with 24-token replies.
    stack.sim.configure({ tokenDelayMs: 30, replyTokens: 64 });
    try {
      await turn({ max_tokens: 4 });
      let short = 0;
      let long = 0;
      const shortJobs: string[] = [];
      const longJobs: string[] = [];
      const few = await measureSettled(3, async () => {
        for (let i = 0; i < 3; i++) {
          const t = await followTurn({ max_tokens: 4 });
          short += t.tokens;
          shortJobs.push(t.jobId);
        }
      });
      const many = await measureSettled(3, async () => {
        for (let i = 0; i < 3; i++) {
          const t = await followTurn({ max_tokens: 64 });
          long += t.tokens;
          longJobs.push(t.jobId);
        }
      });
      // Each token arrives 30 ms after the last, after the 25 ms flush window closed: one write each.
      const extraTokens = (long - short) / 3;
      // Most tokens are their own event; a loaded machine merges a few into one flush (as the 15-of-20 did before).
      expect(extraTokens).toBeGreaterThanOrEqual(45);
      const perToken = (many.commands - few.commands) / extraTokens;
      const writesPerToken =
        ((await jobStreamEntries(longJobs)) - (await jobStreamEntries(shortJobs))) / 3 / extraTokens;
      const cpuPerToken = (many.cpuUs - few.cpuUs) / extraTokens;
      console.log(
        `per extra token: ${perToken.toFixed(2)} commands (${writesPerToken.toFixed(2)} job-stream writes; all XADDs, BullMQ's included: ${(((many.byCommand.xadd ?? 0) - (few.byCommand.xadd ?? 0)) / 3 / extraTokens).toFixed(2)}), ${cpuPerToken.toFixed(0)} µs Redis CPU (${extraTokens} token events more per job)`,
      );
      show('4-token job', few);
      show('24-token job', many);
      expect(writesPerToken).toBeLessThanOrEqual(TOKEN_BUDGET.writes);
      expect(perToken).toBeLessThanOrEqual(TOKEN_BUDGET.commands);
    } finally {
      stack.sim.configure({ tokenDelayMs: 0, replyTokens: 24 });
    }
  });
});
