import type { ChatJobAccepted, ChatJobView, ConversationView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestSession } from './support/auth.js';
import { call, readSse, tokensOf, waitFor } from './support/http.js';
import { type Stack, startStack } from './support/stack.js';

type Msg = { role: string; content: string };
const chatBodies = (stack: Stack) =>
  stack.sim
    .requests()
    .filter((r) => r.path.endsWith('/chat') || r.path.endsWith('/chat/completions'))
    .map((r) => ({
      body: r.body as { messages: Msg[]; options?: Record<string, unknown> },
      reply: r.reply,
      aborted: r.aborted,
    }));

// Every stack's requests act as one logged-in guest.
const sessions = new Map<Stack, Record<string, string>>();
const auth = (stack: Stack) => sessions.get(stack) ?? {};
const login = async (stack: Stack) => {
  sessions.set(stack, (await guestSession(stack.apiUrl)).headers);
};

const submit = (stack: Stack, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, { body, headers: { ...auth(stack), ...headers } });

const poll = (stack: Stack, id: string) =>
  waitFor(
    () => call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${id}`, { headers: auth(stack) }).then((r) => r.body),
    (v) => ['completed', 'failed', 'cancelled'].includes(v.status),
  );

const rolePlay = {
  message: '안녕하세요! 오늘 뭐 해요?',
  character_name: '미나',
  persona: '밝고 수다스러운 대학생. 커피를 좋아한다.',
  scenario: { opponent: '같은 과 선배', situation: '학교 앞 카페', background: '시험이 끝난 금요일 오후' },
};

describe.each(['ollama', 'vllm'] as const)('chat pipeline on %s', (kind) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ kind, sim: { tokenDelayMs: 2 } });
    await login(stack);
  });
  afterAll(() => stack.stop());

  it('submits, polls to completed, and stores the simulator reply with usage', async () => {
    const res = await submit(stack, rolePlay);
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/chat/jobs/${res.body.job_id}`);
    expect(res.body.status).toBe('queued');
    const view = await poll(stack, res.body.job_id);
    expect(view.status).toBe('completed');
    const sent = chatBodies(stack).at(-1)!;
    expect(view.reply?.content).toBe(sent.reply);
    expect(view.reply?.usage.completion_tokens).toBeGreaterThan(0);
    expect(view.reply?.usage.prompt_tokens).toBeGreaterThan(0);
    expect(view.reply?.usage.total_tokens).toBe(
      view.reply!.usage.prompt_tokens + view.reply!.usage.completion_tokens,
    );
    const system = sent.body.messages[0]!;
    expect(system.role).toBe('system');
    for (const part of [
      '미나',
      '커피를 좋아한다',
      '같은 과 선배',
      '학교 앞 카페',
      '시험이 끝난 금요일 오후',
    ]) {
      expect(system.content).toContain(part);
    }
    expect(sent.body.messages.at(-1)).toEqual({ role: 'user', content: rolePlay.message });
    if (kind === 'ollama') expect(sent.body.options?.num_ctx).toBe(4096);
    expect(view.started_at).not.toBeNull();
    expect(view.finished_at).not.toBeNull();
  });

  it('streams tokens over SSE that add up to the reply, and resumes after Last-Event-ID', async () => {
    const { body } = await submit(stack, rolePlay);
    const events = await readSse(`${stack.apiUrl}/chat/jobs/${body.job_id}/events`, { headers: auth(stack) });
    expect(events.at(-1)).toMatchObject({ event: 'done' });
    expect(JSON.parse(events.at(-1)!.data)).toEqual({ status: 'completed' });
    const reply = JSON.parse(events.find((e) => e.event === 'reply')!.data) as { content: string };
    expect(tokensOf(events)).toBe(reply.content);
    const ids = events.filter((e) => e.id).map((e) => e.id!);
    expect(new Set(ids).size).toBe(ids.length);

    // Resume from the middle: exactly the rest, no repeats.
    const withId = events.filter((e) => e.id);
    const cut = Math.floor(withId.length / 2);
    const rest = await readSse(`${stack.apiUrl}/chat/jobs/${body.job_id}/events`, {
      headers: { ...auth(stack), 'last-event-id': withId[cut - 1]!.id! },
    });
    expect(rest.map((e) => e.id)).toEqual(withId.slice(cut).map((e) => e.id));
    expect(tokensOf(withId.slice(0, cut)) + tokensOf(rest)).toBe(reply.content);
  });

  it('sends the SSE headers proxies need', async () => {
    const { body } = await submit(stack, rolePlay);
    const res = await fetch(`${stack.apiUrl}/chat/jobs/${body.job_id}/events`, { headers: auth(stack) });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toMatch(/no-cache/);
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    await res.body?.cancel();
  });

  it('sends the first exchange as history in the second turn and lists the conversation', async () => {
    const first = await submit(stack, rolePlay);
    const v1 = await poll(stack, first.body.job_id);
    const second = await submit(stack, {
      message: '그럼 같이 공부할래요?',
      conversation_id: first.body.conversation_id,
    });
    expect(second.body.conversation_id).toBe(first.body.conversation_id);
    await poll(stack, second.body.job_id);
    const sent = chatBodies(stack).at(-1)!.body.messages;
    expect(sent.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(sent[1]!.content).toBe(rolePlay.message);
    expect(sent[2]!.content).toBe(v1.reply!.content);
    const conv = await call<ConversationView>(`${stack.apiUrl}/conversations/${first.body.conversation_id}`, {
      headers: auth(stack),
    });
    expect(conv.body.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(conv.body.messages[1]!.job_id).toBe(first.body.job_id);
  });

  it('returns the first job for a repeated Idempotency-Key', async () => {
    const key = `k-${Date.now()}-${kind}`;
    const a = await submit(stack, rolePlay, { 'idempotency-key': key });
    const b = await submit(stack, rolePlay, { 'idempotency-key': key });
    expect(b.status).toBe(202);
    expect(b.body.job_id).toBe(a.body.job_id);
  });

  it('normalizes the backend model list', async () => {
    const res = await call<{ backend: string; models: { id: string }[] }>(`${stack.apiUrl}/models`);
    expect(res.status).toBe(200);
    expect(res.body.backend).toBe(kind);
    expect(res.body.models.length).toBeGreaterThan(0);
  });

  it('is ready when Redis and the backend answer', async () => {
    expect((await call(`${stack.apiUrl}/health`)).status).toBe(200);
    const ready = await call<{ checks: Record<string, string> }>(`${stack.apiUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ redis: 'ok', backend: 'ok' });
  });
});

describe('chat pipeline edge cases', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      kind: 'vllm',
      sim: { tokenDelayMs: 2, maxModelLen: 1024 },
      env: { LLM_MAX_CONTEXT_TOKENS: '1024' },
    });
    await login(stack);
  });
  afterAll(() => stack.stop());

  it('trims a long history in pairs, oldest first, to fit the context', async () => {
    const long = '긴 이야기를 합니다. '.repeat(40);
    let conversation: string | undefined;
    for (let i = 0; i < 6; i++) {
      const r = await submit(stack, {
        message: `${i}: ${long}`,
        max_tokens: 64,
        ...(conversation ? { conversation_id: conversation } : {}),
      });
      conversation = r.body.conversation_id;
      expect((await poll(stack, r.body.job_id)).status).toBe('completed');
    }
    const sent = chatBodies(stack).at(-1)!.body.messages;
    expect(sent.length).toBeLessThan(12);
    expect(sent[0]!.role).toBe('system');
    expect(sent[1]!.role).toBe('user');
    expect(sent.at(-1)!.content.startsWith('5:')).toBe(true);
    // The oldest turns went first.
    expect(sent.some((m) => m.content.startsWith('0:'))).toBe(false);
  });

  it('answers 400 naming the field for bad input, 404 for unknown ids, 415 and 413', async () => {
    const bad = await call<{ error: { code: string; details: { field: string }[] } }>(
      `${stack.apiUrl}/chat/jobs`,
      {
        body: { message: 42 },
        headers: auth(stack),
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_input');
    expect(bad.body.error.details.map((d) => d.field)).toContain('body.message');
    const unknown = await call<{ error: { code: string } }>(`${stack.apiUrl}/chat/jobs/nope`, {
      headers: auth(stack),
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    const text = await fetch(`${stack.apiUrl}/chat/jobs`, {
      method: 'POST',
      headers: { ...auth(stack), 'content-type': 'text/plain' },
      body: 'hi',
    });
    expect(text.status).toBe(415);
    const huge = await call(`${stack.apiUrl}/chat/jobs`, {
      body: { message: 'x'.repeat(400_000) },
      headers: auth(stack),
    });
    expect(huge.status).toBe(413);
  });

  it('cancels a running job: the backend connection closes and the job ends cancelled', async () => {
    stack.sim.configure({ ttftMs: 50, tokenDelayMs: 200 });
    try {
      const { body } = await submit(stack, { message: '길게 말해 주세요' });
      await waitFor(
        () =>
          call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${body.job_id}`, { headers: auth(stack) }).then(
            (r) => r.body.status,
          ),
        (s) => s === 'running',
      );
      const before = stack.sim.stats().aborted;
      const del = await call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${body.job_id}`, {
        method: 'DELETE',
        headers: auth(stack),
      });
      expect(del.status).toBe(202);
      const view = await poll(stack, body.job_id);
      expect(view.status).toBe('cancelled');
      await waitFor(
        async () => stack.sim.stats().aborted,
        (n) => n > before,
      );
      const events = await readSse(`${stack.apiUrl}/chat/jobs/${body.job_id}/events`, {
        headers: auth(stack),
      });
      expect(JSON.parse(events.at(-1)!.data)).toEqual({ status: 'cancelled' });
      expect(events.some((e) => e.event === 'reply')).toBe(false);
    } finally {
      stack.sim.configure({ ttftMs: 0, tokenDelayMs: 2 });
    }
  });
});
