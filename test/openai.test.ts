import { randomBytes } from 'node:crypto';
import { DEFAULT_MODELS } from '@gateway/config';
import type { ApiKeyCreated, ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import { createChatQueue, createKeys } from '@gateway/queue';
import type { Queue } from 'bullmq';
import OpenAI, { type APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSession, type TestSession } from './support/auth.js';
import { call, waitFor } from './support/http.js';
import { type Stack, startStack } from './support/stack.js';

interface Account {
  session: TestSession;
  key: string;
  bearer: Record<string, string>;
  client: OpenAI;
}

const FAST = { ttftMs: 5, tokenDelayMs: 2, faults: { dropRate: 0, errorRate: 0 } };
const ended = (s: string) => ['completed', 'failed', 'cancelled'].includes(s);

describe.each(['vllm', 'ollama'] as const)('the OpenAI facade with %s', (kind) => {
  let stack: Stack;
  let chatQueue: Queue;
  let a: Account;
  let model: string;

  const account = async (maxRetries = 0): Promise<Account> => {
    const name = `oa_${randomBytes(4).toString('hex')}`;
    const session = await registerSession(stack.apiUrl, name, `pw-${randomBytes(8).toString('hex')}`);
    const res = await call<ApiKeyCreated>(`${stack.apiUrl}/auth/api-keys`, {
      body: { name: 'tests' },
      headers: session.headers,
    });
    expect(res.status).toBe(201);
    const key = res.body.key;
    const client = new OpenAI({ baseURL: `${stack.apiUrl}/v1`, apiKey: key, maxRetries });
    return { session, key, bearer: { authorization: `Bearer ${key}` }, client };
  };
  const lastReply = () => stack.sim.requests().findLast((r) => r.reply !== undefined)!.reply!;
  const jobOf = (acc: Account, id: string) =>
    call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${id}`, { headers: acc.bearer }).then((r) => r.body);
  const until = (acc: Account, id: string) =>
    waitFor(
      () => jobOf(acc, id),
      (v) => ended(v.status),
    );
  const fill = (acc: Account, n: number) =>
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
          body: { message: `채우기 ${i}` },
          headers: acc.bearer,
        }),
      ),
    ).then((rs) => rs.map((r) => r.body.job_id));
  const cancelAll = (acc: Account, ids: string[]) =>
    Promise.all(
      ids.map((id) => call(`${stack.apiUrl}/chat/jobs/${id}`, { method: 'DELETE', headers: acc.bearer })),
    );
  const ask = (content: string) => [
    { role: 'system' as const, content: '너는 친절한 대화 상대야.' },
    { role: 'user' as const, content },
  ];

  beforeAll(async () => {
    stack = await startStack({
      kind,
      sim: { ...FAST, replyTokens: 12 },
      services: ['api', 'llm-worker', 'llm-worker', 'tts-worker'],
      env: {
        LLM_CONCURRENCY: '3',
        WORKER_CONCURRENCY: '3',
        USER_MAX_ACTIVE_JOBS: '30',
        QUEUE_MAX_DEPTH: '40',
        LLM_BACKOFF_MS: '300',
        // A stream still waiting in the queue opens (and pings) after this long.
        SSE_HEARTBEAT_MS: '300',
      },
    });
    chatQueue = createChatQueue(stack.redis, createKeys(stack.prefix));
    a = await account();
    model = (await a.client.models.list()).data[0]!.id;
  });
  afterAll(async () => {
    await chatQueue?.close();
    await stack?.stop();
  });

  it('lists the backend models as an OpenAI model list', async () => {
    const page = await a.client.models.list();
    expect(page.data.length).toBeGreaterThan(0);
    for (const m of page.data) {
      expect(m).toMatchObject({ object: 'model', id: expect.any(String), owned_by: expect.any(String) });
      expect(typeof m.created).toBe('number');
    }
    // Ollama lists `name:latest` for the configured `name`.
    const def = DEFAULT_MODELS[kind];
    expect(page.data.some((m) => m.id === def || m.id === `${def}:latest`)).toBe(true);
  });

  it('answers a non-streaming completion with the backend reply, through a job', async () => {
    const { data, response } = await a.client.chat.completions
      .create({ model, messages: ask('안녕! 만나서 반가워.'), max_tokens: 32 })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.choices[0]!.message).toMatchObject({ role: 'assistant', content: lastReply() });
    expect(data.choices[0]!.finish_reason).toMatch(/^(stop|length)$/);
    expect(data.usage!.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens);
    const jobId = response.headers.get('x-job-id')!;
    expect(data.id).toBe(`chatcmpl-${jobId.replaceAll('-', '')}`);
    const view = await jobOf(a, jobId);
    expect(view).toMatchObject({ status: 'completed', reply: { content: lastReply() } });
  });

  it('joins text content parts, maps developer to system, and prefers max_completion_tokens', async () => {
    await a.client.chat.completions.create({
      model,
      messages: [
        { role: 'developer', content: '짧게 답해.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: '첫 줄' },
            { type: 'text', text: '둘째 줄' },
          ],
        },
      ],
      max_tokens: 100,
      max_completion_tokens: 7,
    });
    const body = stack.sim.requests().at(-1)!.body as {
      messages: { role: string; content: string }[];
      max_tokens?: number;
      options?: { num_predict?: number };
    };
    expect(body.messages[0]).toEqual({ role: 'system', content: '짧게 답해.' });
    expect(body.messages.at(-1)).toEqual({ role: 'user', content: '첫 줄\n둘째 줄' });
    expect(body.max_tokens ?? body.options?.num_predict).toBe(7);
  });

  it('streams chunks whose deltas add up to the reply, with a usage chunk', async () => {
    const stream = await a.client.chat.completions.create({
      model,
      messages: ask('스트리밍으로 말해 줘'),
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(lastReply());
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finish).toHaveLength(1);
    const usage = chunks.at(-1)!;
    expect(usage.choices).toEqual([]);
    expect(usage.usage!.completion_tokens).toBeGreaterThan(0);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it('frames the stream exactly as vLLM does: data lines only, [DONE] last, no usage unless asked', async () => {
    const res = await fetch(`${stack.apiUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...a.bearer, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: ask('프레임 확인'), stream: true }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('x-job-id')).toBeTruthy();
    const raw = await res.text();
    expect(raw.endsWith('data: [DONE]\n\n')).toBe(true);
    const events = raw.split('\n\n').filter(Boolean);
    expect(events.every((e) => e.startsWith('data: ') && !e.includes('\n'))).toBe(true);
    const bodies = events
      .slice(0, -1)
      .map((e) => JSON.parse(e.slice(6)) as { choices: unknown[]; usage?: unknown });
    expect(bodies.every((b) => b.choices.length === 1 && b.usage === undefined)).toBe(true);
  });

  it('speaks through the TTS queue: audio.speech.create returns a WAV', async () => {
    const res = await a.client.audio.speech.create({
      model: 'tts-1',
      voice: 'ko',
      input: '안녕하세요, 반가워요.',
      response_format: 'wav',
    });
    expect(res.headers.get('content-type')).toBe('audio/wav');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(bytes.subarray(8, 12).toString('latin1')).toBe('WAVE');
    await expect(
      a.client.audio.speech.create({ model: 'tts-1', voice: 'ko', input: '안녕', response_format: 'mp3' }),
    ).rejects.toMatchObject({ status: 400, error: { param: 'response_format' } });
  });

  it('refuses malformed requests, and models outside LLM_MODELS, with BadRequestError naming them', async () => {
    const bad: [Record<string, unknown>, string | null][] = [
      [{ model }, 'messages'],
      [{ model, messages: ask('둘'), n: 9 }, 'n'],
      [
        { model, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] },
        'messages.0.content.0',
      ],
      [{ model, messages: ask('온도'), temperature: 9 }, 'temperature'],
    ];
    for (const [body, param] of bad) {
      const err = await a.client.chat.completions
        .create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as APIError).error).toMatchObject({ type: 'invalid_request_error', param });
    }
    const err = await a.client.chat.completions
      .create({ model: 'no-such-model', messages: ask('누구?') })
      .catch((e: unknown) => e);
    // Only the configured model is offered (LLM_MODELS): another name never reaches the backend.
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as APIError).error).toMatchObject({ code: 'invalid_input', param: 'model' });
    expect((err as APIError).message).toContain('no-such-model');
  });

  it('raises RateLimitError when the user cap or the queue is full; the SDK retry honours Retry-After', async () => {
    await chatQueue.pause();
    // The session's jobs and the key's calls count against the same user.
    const held = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, {
          body: { message: `대기 ${i}` },
          headers: a.session.headers,
        }),
      ),
    ).then((rs) => rs.map((r) => r.body.job_id));
    const capped = await a.client.chat.completions
      .create({ model, messages: ask('자리 있어?') })
      .catch((e: unknown) => e);
    expect(capped).toBeInstanceOf(OpenAI.RateLimitError);
    expect((capped as APIError).error).toMatchObject({
      code: 'user_job_limit',
      type: 'rate_limit_error',
    });
    expect(Number((capped as APIError).headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);

    const b = await account();
    const others = await fill(b, 10);
    const full = await b.client.chat.completions
      .create({ model, messages: ask('줄이 길어?') })
      .catch((e: unknown) => e);
    expect(full).toBeInstanceOf(OpenAI.RateLimitError);
    expect((full as APIError).error).toMatchObject({ code: 'queue_full' });

    // With retries the SDK waits as told and gets in once room frees up.
    const patient = new OpenAI({ baseURL: `${stack.apiUrl}/v1`, apiKey: a.key, maxRetries: 2 });
    const api = stack.processes.find((p) => p.name === 'api')!;
    const rejections = () =>
      api
        .output()
        .split('\n')
        .filter((l) => /"code":"(user_job_limit|queue_full)"/.test(l)).length;
    const before = rejections();
    const started = Date.now();
    const call2 = patient.chat.completions.create({ model, messages: ask('기다릴게') });
    // Its first attempt has been turned away (429) before room frees up.
    await waitFor(
      async () => rejections(),
      (n) => n > before,
      10_000,
    );
    await cancelAll(a, held);
    await cancelAll(b, others);
    await chatQueue.resume();
    const done = await call2;
    expect(done.choices[0]!.message.content).toBe(lastReply());
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('cancels the job when the client aborts a stream: the backend request is closed', async () => {
    stack.sim.configure({ tokenDelayMs: 60 });
    try {
      const before = stack.sim.stats().aborted;
      const abort = new AbortController();
      const { data: stream, response } = await a.client.chat.completions
        .create({ model, messages: ask('길게 말해 줘'), stream: true }, { signal: abort.signal })
        .withResponse();
      const jobId = response.headers.get('x-job-id')!;
      let content = '';
      try {
        for await (const c of stream) {
          content += c.choices[0]?.delta.content ?? '';
          if (content) abort.abort();
        }
      } catch (err) {
        expect(err).toBeInstanceOf(OpenAI.APIUserAbortError);
      }
      await waitFor(
        async () => stack.sim.stats().aborted,
        (n) => n > before,
      );
      expect((await until(a, jobId)).status).toBe('cancelled');
    } finally {
      stack.sim.configure(FAST);
    }
  });

  it('cancels the job when a non-streaming client goes away', async () => {
    stack.sim.configure({ ttftMs: 2_000 });
    try {
      const abort = new AbortController();
      const pending = a.client.chat.completions
        .create({ model, messages: ask('천천히') }, { signal: abort.signal })
        .catch((e: unknown) => e);
      await waitFor(
        async () => stack.sim.stats().inFlight,
        (n) => n > 0,
      );
      const id = (await chatQueue.getActive())[0]!.id!;
      abort.abort();
      expect(await pending).toBeInstanceOf(OpenAI.APIUserAbortError);
      expect((await until(a, id)).status).toBe('cancelled');
    } finally {
      stack.sim.configure(FAST);
    }
  });

  it('hides a retry that happens before any text, and ends a stream whose text would restart', async () => {
    // A 500 before the first token: the job is retried and the stream never notices.
    stack.sim.configure({ faults: { errorRate: 1 } });
    const quiet = a.client.chat.completions.create({ model, messages: ask('다시 해 봐'), stream: true });
    await waitFor(
      async () => stack.sim.stats().errors,
      (n) => n > 0,
    );
    stack.sim.configure(FAST);
    let text = '';
    for await (const c of await quiet) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe(lastReply());

    // The connection drops half way through: text already went out, so the stream ends with an error.
    stack.sim.configure({ tokenDelayMs: 40, faults: { dropRate: 1 } });
    const { data: stream, response } = await a.client.chat.completions
      .create({ model, messages: ask('중간에 끊겨'), stream: true })
      .withResponse();
    let seen = '';
    const err = await (async () => {
      for await (const c of stream) {
        seen += c.choices[0]?.delta.content ?? '';
        if (seen) stack.sim.configure(FAST);
      }
    })().catch((e: unknown) => e);
    expect(seen.length).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as APIError).error).toMatchObject({
      code: 'backend_stream_error',
      type: 'server_error',
    });
    expect((await until(a, response.headers.get('x-job-id')!)).status).toBe('cancelled');
  });

  it('opens a stream that waits in the queue, keeps it alive with pings, then streams the reply', async () => {
    await chatQueue.pause();
    try {
      const res = await fetch(`${stack.apiUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...a.bearer, 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: ask('줄 서서 기다릴게'), stream: true }),
      });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let raw = '';
      while (!raw.includes(': ping')) raw += decoder.decode((await reader.read()).value, { stream: true });
      expect(raw.startsWith('data: {')).toBe(true);
      await chatQueue.resume();
      for (let r = await reader.read(); !r.done; r = await reader.read()) raw += decoder.decode(r.value);
      const text = raw
        .split('\n\n')
        .filter((e) => e.startsWith('data: {'))
        .map((e) => (JSON.parse(e.slice(6)) as OpenAI.ChatCompletionChunk).choices[0]?.delta.content ?? '')
        .join('');
      expect(text).toBe(lastReply());
      expect(raw.endsWith('data: [DONE]\n\n')).toBe(true);
    } finally {
      await chatQueue.resume();
    }
  });

  it('ends an open stream with an error event when its job is cancelled elsewhere', async () => {
    await chatQueue.pause();
    try {
      const { data: stream, response } = await a.client.chat.completions
        .create({ model, messages: ask('취소될 거야'), stream: true })
        .withResponse();
      const id = response.headers.get('x-job-id')!;
      const cancelled = await call(`${stack.apiUrl}/chat/jobs/${id}`, {
        method: 'DELETE',
        headers: a.bearer,
      });
      expect(cancelled.status).toBe(202);
      const err = await (async () => {
        for await (const _ of stream);
      })().catch((e: unknown) => e);
      expect((err as APIError).error).toMatchObject({ code: 'cancelled' });
    } finally {
      await chatQueue.resume();
    }
  });

  it('fails a job before its first token with a plain JSON error, streaming or not', async () => {
    for (const stream of [false, true]) {
      const err = await a.client.chat.completions
        .create({ model, messages: ask('너무 길어'), max_tokens: 32_768, stream })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.UnprocessableEntityError);
      expect((err as APIError).error).toMatchObject({
        code: 'context_too_long',
        type: 'invalid_request_error',
      });
    }
  });

  it('answers 503 while the backend is down, in OpenAI shape', async () => {
    await stack.redis.hset(`${stack.prefix}:backend`, {
      status: 'down',
      reason: 'test outage',
      since: Date.now(),
    });
    try {
      const err = await a.client.chat.completions
        .create({ model, messages: ask('거기 있어?') })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      expect((err as APIError).status).toBe(503);
      expect((err as APIError).error).toMatchObject({
        code: 'backend_unavailable',
        type: 'server_error',
      });
      expect((err as APIError).headers?.get('retry-after')).toBeTruthy();
    } finally {
      await stack.redis.hset(`${stack.prefix}:backend`, { status: 'up', reason: '' });
    }
  });

  it('runs 24 parallel SDK calls with never more than LLM_CONCURRENCY=3 at the backend', async () => {
    stack.sim.configure({ ttftMs: 20, tokenDelayMs: 5 });
    stack.sim.resetStats();
    try {
      const questions = Array.from({ length: 24 }, (_, i) => `질문 ${i}번`);
      const answers = await Promise.all(
        questions.map((q) => a.client.chat.completions.create({ model, messages: ask(q), max_tokens: 16 })),
      );
      const replies = new Map(
        stack.sim.requests().map((r) => {
          const msgs = (r.body as { messages: { content: string }[] }).messages;
          return [msgs.at(-1)!.content, r.reply];
        }),
      );
      answers.forEach((ans, i) => {
        expect(ans.choices[0]!.message.content).toBe(replies.get(questions[i]!));
      });
      expect(stack.sim.stats().completed).toBe(24);
      expect(stack.sim.stats().maxInFlight).toBe(3);
    } finally {
      stack.sim.configure(FAST);
    }
  });
});
