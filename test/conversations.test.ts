import type { ChatJobAccepted, ChatJobView, ConversationView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestSession, type TestSession } from './support/auth.js';
import { call, waitFor } from './support/http.js';
import { type Stack, startStack } from './support/stack.js';

type Msg = { role: string; content: string };
type Summary = {
  conversation_id: string;
  character_id: string | null;
  title: string | null;
  updated_at: string;
  last_message: string | null;
};
type ListView = { conversations: Summary[]; next_cursor: string | null };
type ErrorBody = { error: { code: string; message: string } };

let stack: Stack;
let me: TestSession;
let other: TestSession;

const sentMessages = () =>
  stack.sim
    .requests()
    .filter((r) => r.path.endsWith('/chat'))
    .map((r) => (r.body as { messages: Msg[] }).messages);

const api = <T>(s: TestSession, path: string, init: { method?: string; body?: unknown } = {}) =>
  call<T>(`${stack.apiUrl}${path}`, { ...init, headers: s.headers });

const finished = (s: TestSession, id: string) =>
  waitFor(
    () => api<ChatJobView>(s, `/chat/jobs/${id}`).then((r) => r.body),
    (v) => ['completed', 'failed', 'cancelled'].includes(v.status),
  );

async function turn(s: TestSession, body: Record<string, unknown>): Promise<ChatJobAccepted> {
  const res = await api<ChatJobAccepted>(s, '/chat/jobs', { body });
  expect(res.status).toBe(202);
  expect((await finished(s, res.body.job_id)).status).toBe('completed');
  return res.body;
}

const conversation = async (s: TestSession, id: string) =>
  (await api<ConversationView>(s, `/conversations/${id}`)).body;

beforeAll(async () => {
  stack = await startStack({ kind: 'ollama', services: ['api', 'llm-worker', 'tts-worker'] });
  me = await guestSession(stack.apiUrl);
  other = await guestSession(stack.apiUrl);
});
afterAll(() => stack.stop());

describe('conversation management', () => {
  it('lists the caller’s own conversations newest first, in cursor pages', async () => {
    const ids: string[] = [];
    for (const message of ['첫 번째 대화', '두 번째 대화', '세 번째 대화']) {
      ids.push((await turn(me, { message, character_name: '미나' })).conversation_id);
    }
    // Activity moves a conversation to the top.
    await turn(me, { message: '다시 첫 번째', conversation_id: ids[0] });
    const expected = [ids[0], ids[2], ids[1]];

    const all = await api<ListView>(me, '/conversations');
    expect(all.status).toBe(200);
    expect(all.body.conversations.map((c) => c.conversation_id)).toEqual(expected);
    expect(all.body.next_cursor).toBeNull();
    const top = all.body.conversations[0]!;
    expect(top.last_message).toBe((await conversation(me, ids[0]!)).messages.at(-1)!.content);
    expect(Date.parse(top.updated_at)).toBeGreaterThan(Date.parse(all.body.conversations[1]!.updated_at));

    const paged: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `?limit=1&cursor=${cursor}` : '?limit=1';
      const page = await api<ListView>(me, `/conversations${q}`);
      expect(page.body.conversations.length).toBeLessThanOrEqual(1);
      paged.push(...page.body.conversations.map((c) => c.conversation_id));
      cursor = page.body.next_cursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(paged).toEqual(expected);

    // Someone else's list holds none of them.
    expect((await api<ListView>(other, '/conversations')).body.conversations).toEqual([]);
    expect((await api<ErrorBody>(me, '/conversations?cursor=bm9wZQ')).status).toBe(400);
  });

  it('renames and deletes a conversation with its jobs, events and audio; others get 404', async () => {
    const first = await turn(me, { message: '이름 붙일 대화', character_name: '미나', tts: true });
    const id = first.conversation_id;
    const spoken = await waitFor(
      () => api<ChatJobView>(me, `/chat/jobs/${first.job_id}`).then((r) => r.body),
      (v) => v.tts?.status === 'completed' || v.tts?.status === 'failed',
    );
    expect(spoken.tts?.status).toBe('completed');
    expect(
      (await fetch(`${stack.apiUrl}/chat/jobs/${first.job_id}/audio?chunk=0`, { headers: me.headers }))
        .status,
    ).toBe(200);
    const renamed = await api<ConversationView>(me, `/conversations/${id}`, {
      method: 'PATCH',
      body: { title: '카페 이야기' },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body.title).toBe('카페 이야기');
    expect((await conversation(me, id)).title).toBe('카페 이야기');
    const listed = (await api<ListView>(me, '/conversations')).body.conversations;
    expect(listed.find((c) => c.conversation_id === id)?.title).toBe('카페 이야기');

    for (const [method, path, body] of [
      ['GET', `/conversations/${id}`, undefined],
      ['PATCH', `/conversations/${id}`, { title: 'mine now' }],
      ['DELETE', `/conversations/${id}`, undefined],
      ['POST', `/conversations/${id}/regenerate`, {}],
      ['PUT', `/conversations/${id}/messages/0`, { content: 'hacked' }],
    ] as const) {
      const res = await api<ErrorBody>(other, path, { method, body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    expect((await conversation(me, id)).title).toBe('카페 이야기');

    const jobKeys = await stack.redis.keys(`${stack.prefix}:*{${first.job_id}}*`);
    expect(jobKeys.filter((k) => k.includes(':audio:')).length).toBeGreaterThan(1); // whole reply + chunks
    const del = await fetch(`${stack.apiUrl}/conversations/${id}`, { method: 'DELETE', headers: me.headers });
    expect(del.status).toBe(204);
    expect((await api(me, `/conversations/${id}`)).status).toBe(404);
    expect((await api(me, `/chat/jobs/${first.job_id}`)).status).toBe(404);
    expect(await stack.redis.keys(`${stack.prefix}:*{${first.job_id}}*`)).toEqual([]);
    expect(await stack.redis.keys(`${stack.prefix}:conv:{${id}}*`)).toEqual([]);
    expect(
      (await api<ListView>(me, '/conversations')).body.conversations.map((c) => c.conversation_id),
    ).not.toContain(id);
  });

  it('regenerates the last reply as a swipe; later turns see only the selected text', async () => {
    const a = await turn(me, { message: '오늘 날씨 어때요?', character_name: '미나' });
    const id = a.conversation_id;
    const before = await conversation(me, id);
    const original = before.messages.at(-1)!;
    expect(original).toMatchObject({ role: 'assistant', alternatives: [original.content], selected: 0 });

    // The simulator's reply depends on the last user message and max_tokens: a shorter one differs.
    const regen = await api<ChatJobAccepted>(me, `/conversations/${id}/regenerate`, {
      body: { max_tokens: 3 },
    });
    expect(regen.status).toBe(202);
    expect(regen.body.conversation_id).toBe(id);
    const view = await finished(me, regen.body.job_id);
    expect(view.status).toBe('completed');
    const sent = sentMessages().at(-1)!;
    // Same history and user message as the first reply; the old reply is not in the prompt.
    expect(sent.at(-1)).toEqual({ role: 'user', content: '오늘 날씨 어때요?' });
    expect(sent.map((m) => m.content)).not.toContain(original.content);

    const after = await conversation(me, id);
    expect(after.messages.length).toBe(before.messages.length);
    const swiped = after.messages.at(-1)!;
    expect(swiped.alternatives).toEqual([original.content, view.reply!.content]);
    expect(swiped.selected).toBe(1);
    expect(swiped.content).toBe(view.reply!.content);
    expect(swiped.job_id).toBe(regen.body.job_id);
    expect(view.reply!.content).not.toBe(original.content);

    // Back to the first alternative: the next turn's history holds it, not the regenerated one.
    const index = after.messages.length - 1;
    const picked = await api<ConversationView>(me, `/conversations/${id}/messages/${index}`, {
      method: 'PUT',
      body: { selected: 0 },
    });
    expect(picked.status).toBe(200);
    expect(picked.body.messages[index]).toMatchObject({ content: original.content, selected: 0 });
    await turn(me, { message: '그럼 산책 갈까요?', conversation_id: id });
    const history = sentMessages().at(-1)!;
    expect(history.map((m) => m.content)).toContain(original.content);
    expect(history.map((m) => m.content)).not.toContain(view.reply!.content);

    // A field a regeneration cannot change is refused by name, not dropped.
    const named = await api<ErrorBody & { error: { details: { field: string }[] } }>(
      me,
      `/conversations/${id}/regenerate`,
      { body: { character_name: '다른 이름' } },
    );
    expect(named.status).toBe(400);
    expect(JSON.stringify(named.body.error)).toContain('character_name');

    // Out-of-range alternative and unknown message index.
    const bad = await api<ErrorBody>(me, `/conversations/${id}/messages/${index}`, {
      method: 'PUT',
      body: { selected: 5 },
    });
    expect(bad.status).toBe(400);
    const missing = await api<ErrorBody>(me, `/conversations/${id}/messages/999`, {
      method: 'PUT',
      body: { content: 'x' },
    });
    expect(missing.status).toBe(404);
  });

  it('edits a user message and a reply; the next prompt carries the edited texts', async () => {
    const a = await turn(me, { message: '원래 질문', character_name: '미나' });
    const id = a.conversation_id;
    const msgs = (await conversation(me, id)).messages;
    const userIndex = msgs.findIndex((m) => m.role === 'user');
    const edited = await api<ConversationView>(me, `/conversations/${id}/messages/${userIndex}`, {
      method: 'PUT',
      body: { content: '고친 질문' },
    });
    expect(edited.status).toBe(200);
    const replyEdit = await api<ConversationView>(me, `/conversations/${id}/messages/${userIndex + 1}`, {
      method: 'PUT',
      body: { content: '고친 대답' },
    });
    expect(replyEdit.body.messages[userIndex + 1]).toMatchObject({
      content: '고친 대답',
      alternatives: ['고친 대답'],
    });
    await turn(me, { message: '다음 질문', conversation_id: id });
    const sent = sentMessages()
      .at(-1)!
      .map((m) => m.content);
    expect(sent).toContain('고친 질문');
    expect(sent).toContain('고친 대답');
    expect(sent).not.toContain('원래 질문');
  });

  it('answers 409 to regenerate, edit and delete while a turn is queued or running', async () => {
    const a = await turn(me, { message: '바쁜 대화', character_name: '미나' });
    const id = a.conversation_id;
    stack.sim.configure({ faults: { hangRate: 1 } });
    const busy = await api<ChatJobAccepted>(me, '/chat/jobs', {
      body: { message: '끝나지 않는 질문', conversation_id: id },
    });
    await waitFor(
      () => api<ChatJobView>(me, `/chat/jobs/${busy.body.job_id}`).then((r) => r.body.status),
      (s) => s === 'running',
    );
    try {
      for (const [method, path, body] of [
        ['POST', `/conversations/${id}/regenerate`, {}],
        ['PUT', `/conversations/${id}/messages/1`, { content: 'x' }],
        ['DELETE', `/conversations/${id}`, undefined],
      ] as const) {
        const res = await api<ErrorBody>(me, path, { method, body });
        expect(res.status, `${method} ${path}`).toBe(409);
        expect(res.body.error.code).toBe('conversation_busy');
      }
    } finally {
      stack.sim.configure({ faults: { hangRate: 0 } });
      await fetch(`${stack.apiUrl}/chat/jobs/${busy.body.job_id}`, { method: 'DELETE', headers: me.headers });
    }
    expect((await finished(me, busy.body.job_id)).status).toBe('cancelled');
    // Once the line is clear the same calls go through.
    const regen = await api<ChatJobAccepted>(me, `/conversations/${id}/regenerate`, { body: {} });
    expect(regen.status).toBe(202);
    await finished(me, regen.body.job_id);
    const del = await fetch(`${stack.apiUrl}/conversations/${id}`, { method: 'DELETE', headers: me.headers });
    expect(del.status).toBe(204);
  });

  it('refuses to regenerate a conversation that has only its greeting', async () => {
    // A conversation is created by its first turn; cancel that turn at once so only the greeting stays.
    stack.sim.configure({ faults: { hangRate: 1 } });
    const res = await api<ChatJobAccepted>(me, '/chat/jobs', {
      body: { message: '취소될 질문', character_name: '미나', greeting: '어서 와요!' },
    });
    await fetch(`${stack.apiUrl}/chat/jobs/${res.body.job_id}`, { method: 'DELETE', headers: me.headers });
    stack.sim.configure({ faults: { hangRate: 0 } });
    expect((await finished(me, res.body.job_id)).status).toBe('cancelled');
    const regen = await api<ErrorBody>(me, `/conversations/${res.body.conversation_id}/regenerate`, {
      body: {},
    });
    // On a mismatch, say what held the conversation's line (diagnostics for a rare timing).
    const line = `${stack.prefix}:conv:{${res.body.conversation_id}}:pending`;
    const held =
      regen.body.error.code === 'conflict'
        ? []
        : await Promise.all(
            (await stack.redis.zrange(line, '0', '-1')).map(async (j) => ({
              job: j,
              record: await stack.redis.hmget(`${stack.prefix}:job:{${j}}`, 'status', 'turn', 'attempt'),
            })),
          );
    expect(regen.body.error.code, JSON.stringify({ job: res.body.job_id, held })).toBe('conflict');
  });

  it('reads only the history that can fit the window, however long the conversation', async () => {
    const a = await turn(me, { message: '긴 대화의 시작', character_name: '미나' });
    const id = a.conversation_id;
    // 1,000 stored turns; turn 2 is unreadable. A turn that read the whole history would fail on it.
    const turnsKey = `${stack.prefix}:conv:{${id}}:turns`;
    const fields: string[] = [];
    for (let t = 2; t <= 1_000; t += 1) {
      const text =
        t === 2
          ? 'not json {'
          : JSON.stringify({
              turn: t,
              job_id: null,
              user: `질문 ${t}`,
              assistant: `대답 ${t}`,
              user_at: t,
              assistant_at: t,
            });
      fields.push(String(t), text);
    }
    await stack.redis.hset(turnsKey, ...fields);
    await stack.redis.hset(`${stack.prefix}:conv:{${id}}`, 'next_turn', 1_000);
    await turn(me, { message: '마지막 질문', conversation_id: id });
    const sent = sentMessages().at(-1)!;
    expect(sent.at(-1)).toEqual({ role: 'user', content: '마지막 질문' });
    expect(sent.at(-2)).toEqual({ role: 'assistant', content: '대답 1000' });
    expect(sent.map((m) => m.content)).not.toContain('대답 500');
  });

  it('does not count a turn that has ended but is not yet out of the line as busy', async () => {
    const a = await turn(me, { message: '끝난 질문', character_name: '미나' });
    const id = a.conversation_id;
    // The moment between a job's end and its worker releasing the turn, held open.
    await stack.redis.zadd(`${stack.prefix}:conv:{${id}}:pending`, 1, a.job_id);
    const edit = await api<ConversationView>(me, `/conversations/${id}/messages/0`, {
      method: 'PUT',
      body: { content: '고쳤어요' },
    });
    expect(edit.status).toBe(200);
    // Out of the line: no job scored by a turn (an ended job stays listed, scored 0, for deletion).
    expect(await stack.redis.zcount(`${stack.prefix}:conv:{${id}}:pending`, '(0', '+inf')).toBe(0);
    await stack.redis.zadd(`${stack.prefix}:conv:{${id}}:pending`, 1, a.job_id);
    const regen = await api<ChatJobAccepted>(me, `/conversations/${id}/regenerate`, { body: {} });
    expect(regen.status).toBe(202);
    expect((await finished(me, regen.body.job_id)).status).toBe('completed');
  });
});
