import { randomBytes } from 'node:crypto';
import { type BackendSim, startBackendSim } from '@gateway/backend-sim';
import { DEFAULT_MODELS } from '@gateway/config';
import type { ApiKeyCreated, ChatJobView } from '@gateway/contracts';
import { createKeys, QUEUE } from '@gateway/queue';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSession } from './support/auth.js';
import { call, waitFor } from './support/http.js';
import { type RunningProcess, type Stack, startStack, stopProcess } from './support/stack.js';

/** The GPU server's cap (LLM_CONCURRENCY); the simulator itself would run four times as many. */
const CAP = 4;
const TIMING = { ttftMs: 30, tokenDelayMs: 10, replyTokens: 8 };

/**
 * `n` choices through `/v1` are n sequences of the GPU server's cap (issue #21): vLLM's `n` in one
 * request, Ollama's n runs of one job at once. The simulator admits far more than the cap, so its peak of
 * sequences generating at once is what the gateway sent, over two llm-worker processes.
 */
describe.each(['vllm', 'ollama'] as const)('n choices against the server cap with %s', (kind) => {
  let stack: Stack;
  let client: OpenAI;
  let key: string;
  let workers: RunningProcess[] = [];
  const model = DEFAULT_MODELS[kind];
  const messages = (text: string) => [
    { role: 'system' as const, content: 'You are terse.' },
    { role: 'user' as const, content: text },
  ];
  const meta = () => createKeys(stack.prefix).bull(QUEUE.chat, 'meta');
  const concurrency = async () => Number(await stack.redis.hget(meta(), 'concurrency'));
  const job = (id: string) =>
    call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${id}`, { headers: { authorization: `Bearer ${key}` } });

  beforeAll(async () => {
    stack = await startStack({
      kind,
      sim: { ...TIMING, capacity: 4 * CAP },
      services: ['api'],
      env: {
        LLM_CONCURRENCY: String(CAP),
        USER_MAX_ACTIVE_JOBS: '100',
        QUEUE_MAX_DEPTH: '100',
        // A killed worker's job runs again within a few seconds.
        WORKER_LOCK_MS: '1500',
        WORKER_STALLED_INTERVAL_MS: '700',
      },
    });
    workers = [await stack.start('llm-worker'), await stack.start('llm-worker')];
    const session = await registerSession(stack.apiUrl, `n_${randomBytes(4).toString('hex')}`, 'pw-n-test-1');
    const res = await call<ApiKeyCreated>(`${stack.apiUrl}/auth/api-keys`, {
      body: { name: 'n' },
      headers: session.headers,
    });
    key = res.body.key;
    client = new OpenAI({ baseURL: `${stack.apiUrl}/v1`, apiKey: key, maxRetries: 0 });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  const ask = (text: string, n: number, stream = false) =>
    stream
      ? client.chat.completions
          .stream({ model, messages: messages(text), n, max_tokens: 16 })
          .finalChatCompletion()
      : client.chat.completions.create({ model, messages: messages(text), n, max_tokens: 16 });

  it('never has more than the cap of sequences at the backend, and answers each request with its n choices', async () => {
    stack.sim.resetStats();
    const widths = [3, 1, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1];
    const answers = await Promise.all(widths.map((n, i) => ask(`question ${i}`, n, i % 4 === 2)));
    answers.forEach((a, i) => {
      expect(a.choices.map((c) => c.index)).toEqual(Array.from({ length: widths[i]! }, (_, j) => j));
      expect(a.choices.every((c) => (c.message.content ?? '').length > 0)).toBe(true);
    });
    const stats = stack.sim.stats();
    // vLLM: one request per job; Ollama: one per choice.
    const sequences = widths.reduce((s, n) => s + n, 0);
    expect(stats.completed).toBe(kind === 'vllm' ? widths.length : sequences);
    expect(stats.maxGenerating).toBeLessThanOrEqual(CAP);
    // The wide jobs did run their n sequences side by side.
    expect(stats.maxGenerating).toBeGreaterThanOrEqual(3);
    expect(await concurrency()).toBe(CAP);
  });

  it('runs n = cap alone, and refuses n above the cap with a 400 naming n', async () => {
    stack.sim.resetStats();
    const answers = await Promise.all([
      ask('all of it', CAP),
      ...[0, 1, 2, 3].map((i) => ask(`small ${i}`, 1)),
    ]);
    expect(answers[0]!.choices).toHaveLength(CAP);
    expect(stack.sim.stats().maxGenerating).toBeLessThanOrEqual(CAP);
    const refused = await ask('too many', CAP + 1).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('n');
  });

  it('cancels every sequence of a stream the client aborts, and gives its seats back', async () => {
    stack.sim.configure({ tokenDelayMs: 60, replyTokens: 60 });
    try {
      const before = stack.sim.stats().aborted;
      const abort = new AbortController();
      const { data: stream, response } = await client.chat.completions
        .create({ model, messages: messages('talk long'), n: 3, stream: true }, { signal: abort.signal })
        .withResponse();
      const jobId = response.headers.get('x-job-id')!;
      let content = '';
      for await (const c of stream) {
        content += c.choices[0]?.delta.content ?? '';
        // The SDK ends the loop quietly once its request is aborted.
        if (content) abort.abort();
      }
      expect(content).not.toBe('');
      // vLLM: the one request of n sequences; Ollama: all three runs.
      await waitFor(
        async () => stack.sim.stats(),
        (s) => s.aborted >= before + (kind === 'vllm' ? 1 : 3) && s.generating === 0,
      );
      expect(
        (
          await waitFor(
            () => job(jobId),
            (r) => r.body.status !== 'running',
          )
        ).body.status,
      ).toBe('cancelled');
      expect(await concurrency()).toBe(CAP);
    } finally {
      stack.sim.configure(TIMING);
    }
    // The whole cap is free again: a job of n = cap runs.
    expect((await ask('after the cancel', CAP)).choices).toHaveLength(CAP);
  });

  it('gives back the seats of a worker SIGKILLed mid-reply; the job runs again and completes', async () => {
    await Promise.all(workers.map((w) => stopProcess(w)));
    const doomed = await stack.start('llm-worker', { GATEWAY_FAILPOINTS: 'mid_stream' });
    const answer = ask('die now', 3);
    await doomed.exited;
    // The dead worker's job still holds its extra seats: the queue runs fewer jobs until they are back.
    expect(await concurrency()).toBe(CAP - 2);
    workers = [await stack.start('llm-worker')];
    const done = await answer;
    expect(done.choices).toHaveLength(3);
    await waitFor(concurrency, (c) => c === CAP);
    stack.sim.resetStats();
    const after = await Promise.all([ask('whole', CAP), ...[0, 1, 2].map((i) => ask(`one ${i}`, 1))]);
    expect(after.map((a) => a.choices.length)).toEqual([CAP, 1, 1, 1]);
    expect(stack.sim.stats().maxGenerating).toBeLessThanOrEqual(CAP);
  }, 60_000);
});

/** Failover of jobs of n choices: a pool of two vLLM servers of cap 4, one of which dies mid-reply. */
describe('n choices in a pool when a server dies', () => {
  let stack: Stack;
  let client: OpenAI;
  let a: BackendSim;
  let b: BackendSim;
  const slow = { ttftMs: 20, tokenDelayMs: 25, replyTokens: 16, capacity: 4 * CAP };

  beforeAll(async () => {
    [a, b] = await Promise.all([
      startBackendSim({ kind: 'vllm', models: ['m1'], ...slow }),
      startBackendSim({ kind: 'vllm', models: ['m1'], ...slow }),
    ]);
    stack = await startStack({
      kind: 'vllm',
      services: ['api', 'llm-worker', 'llm-worker'],
      env: {
        LLM_MODEL: 'm1',
        USER_MAX_ACTIVE_JOBS: '100',
        BREAKER_PROBE_MS: '200',
        LLM_BACKENDS: JSON.stringify([
          { name: 'a', service: 'vllm', url: a.url, concurrency: CAP, models: ['m1'] },
          { name: 'b', service: 'vllm', url: b.url, concurrency: CAP, models: ['m1'] },
        ]),
      },
    });
    const session = await registerSession(
      stack.apiUrl,
      `np_${randomBytes(4).toString('hex')}`,
      'pw-n-test-2',
    );
    const res = await call<ApiKeyCreated>(`${stack.apiUrl}/auth/api-keys`, {
      body: { name: 'n' },
      headers: session.headers,
    });
    client = new OpenAI({ baseURL: `${stack.apiUrl}/v1`, apiKey: res.body.key, maxRetries: 0 });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await Promise.all([a?.close(), b?.close()]);
  });

  it('moves the cut-off jobs to the other server, within its cap, and gives the seats back on both', async () => {
    const widths = [3, 1, 3, 1, 3, 1, 3, 1, 3, 1];
    const answers = Promise.all(
      widths.map((n, i) =>
        client.chat.completions.create({
          model: 'm1',
          messages: [{ role: 'user', content: `failover ${i}` }],
          n,
          max_tokens: 16,
        }),
      ),
    );
    await waitFor(
      async () => a.stats().generating,
      (g) => g >= 3,
    );
    await a.stop();
    const done = await answers;
    expect(done.map((d) => d.choices.length)).toEqual(widths);
    // Some requests were cut off on `a`, and were answered all the same (by `b`).
    expect(a.stats().completed).toBeLessThan(a.stats().requests);
    expect(b.stats().maxGenerating).toBeLessThanOrEqual(CAP);
    expect(a.stats().maxGenerating).toBeLessThanOrEqual(CAP);
    const keys = createKeys(stack.prefix);
    for (const server of ['a', 'b']) {
      const meta = keys.bull(keys.chatQueue(server), 'meta');
      await waitFor(
        async () => Number(await stack.redis.hget(meta, 'concurrency')),
        (c) => c === CAP,
      );
    }
  }, 60_000);
});
