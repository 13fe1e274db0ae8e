/** The web client's pure parts: reply assembly from events, Enter/IME handling, stored messages, sampling, language. */
import { ChatJobRequest, type JobEvent } from '@gateway/contracts';
import { describe, expect, it } from 'vitest';
import {
  finishedReply,
  finishedTurn,
  greetingOf,
  storedMessages,
  withStored,
} from '../../packages/web/app/chat/turns.js';
import type { ChatSession, Msg } from '../../packages/web/app/chat/types.js';
import { pickLang, TEXTS, translator } from '../../packages/web/app/i18n.js';
import { isSendKey } from '../../packages/web/app/keys.js';
import { applyEvent, applyPoll, initialReply, isAfter } from '../../packages/web/app/reply-state.js';
import { NUMBER_FIELDS, samplingRequest, samplingSummary } from '../../packages/web/app/sampling.js';

// Events as the api sends them over SSE: the name, its JSON data (typed by the contract), the stream id.
type Ev = {
  [E in JobEvent as E['event']]: [event: E['event'], data: E['data'], id: string | null];
}[JobEvent['event']];
const run = (events: Ev[], from = initialReply('j1')) =>
  events.reduce((s, [event, data, id]) => applyEvent(s, { event, data } as JobEvent, id), from);
const reply = (content: string) => ({
  content,
  model: 'sim',
  finish_reason: 'stop' as const,
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});

describe('reply state', () => {
  const stream: Ev[] = [
    ['status', { status: 'queued', queue_position: 3, eta_seconds: 4.5 }, null],
    ['status', { status: 'queued' }, '1-0'],
    ['status', { status: 'running', attempt: 1 }, '2-0'],
    ['token', { delta: '안녕' }, '3-0'],
    ['token', { delta: '하세요' }, '3-1'],
    ['reply', reply('안녕하세요'), '4-0'],
    ['done', { status: 'completed' }, '5-0'],
  ];

  it('builds the text from tokens and ends completed', () => {
    const s = run(stream);
    expect(s).toMatchObject({ text: '안녕하세요', phase: 'completed', done: true, lastEventId: '5-0' });
  });

  it('shows the queue position from the snapshot without moving the resume point', () => {
    const s = run(stream.slice(0, 1));
    expect(s).toMatchObject({ phase: 'queued', queuePosition: 3, etaSeconds: 4.5, lastEventId: null });
  });

  it('resumed from a saved state, replayed events are not applied twice', () => {
    const half = run(stream.slice(0, 4));
    expect(half.text).toBe('안녕');
    // A server (or a reconnect) that sends from the start again must not repeat text.
    const resumed = run(stream, JSON.parse(JSON.stringify(half)));
    expect(resumed.text).toBe('안녕하세요');
    expect(run(stream.slice(4), half).text).toBe('안녕하세요');
  });

  it('drops the text of an earlier attempt when a retry starts running', () => {
    const s = run([
      ['status', { status: 'running', attempt: 1 }, '1-0'],
      ['token', { delta: 'half a rep' }, '2-0'],
      ['status', { status: 'queued', attempt: 1, reason: 'retrying after backend_unavailable' }, '3-0'],
      ['status', { status: 'running', attempt: 2 }, '4-0'],
      ['token', { delta: 'whole reply' }, '5-0'],
    ]);
    expect(s).toMatchObject({ text: 'whole reply', restarted: true, attempt: 2 });
  });

  it('ends failed or cancelled with the error kept', () => {
    const failed = run([
      ['error', { code: 'backend_timeout', message: 'the backend took too long' }, '1-0'],
      ['done', { status: 'failed' }, '2-0'],
    ]);
    expect(failed).toMatchObject({ phase: 'failed', done: true, error: { code: 'backend_timeout' } });
    expect(run([['done', { status: 'cancelled' }, '1-0']]).phase).toBe('cancelled');
  });

  it('keeps the speech info and the reply as the final text', () => {
    const s = run([
      ['token', { delta: 'abc' }, '1-0'],
      ['reply', reply('abc'), '2-0'],
      ['tts', { status: 'completed', audio_url: '/chat/jobs/j1/audio' }, '3-0'],
    ]);
    expect(s).toMatchObject({ phase: 'streamed', done: false, tts: { status: 'completed' } });
  });

  it('polling while queued reports a backend that is down', () => {
    const s = applyPoll(initialReply('j'), {
      status: 'queued',
      queue_position: 2,
      backend: { status: 'down' },
    });
    expect(s).toMatchObject({ queuePosition: 2, backendTrouble: true });
    expect(applyPoll(s, { status: 'queued', backend: { status: 'up' } }).backendTrouble).toBe(false);
  });

  it('orders stream ids numerically', () => {
    expect(isAfter('10-0', '9-5')).toBe(true);
    expect(isAfter('9-10', '9-9')).toBe(true);
    expect(isAfter('9-1', '9-1')).toBe(false);
    expect(isAfter('1-0', null)).toBe(true);
  });
});

describe('the log of a conversation', () => {
  const session = (over: Partial<ChatSession> = {}): ChatSession => ({
    key: 'k',
    character: {
      id: 'c1',
      name: '미나',
      persona: '',
      voice_id: null,
      greeting: '안녕!',
      alternate_greetings: [],
      lorebook_entries: 0,
      created_at: '2026-01-01T00:00:00.000Z',
      updated_at: '2026-01-01T00:00:00.000Z',
    },
    characterId: 'c1',
    characterName: '미나',
    conversationId: null,
    scenario: {},
    ...over,
  });

  it('opens a new conversation with the greeting, a reopened one without it', () => {
    expect(greetingOf(session())).toMatchObject([{ key: 'greeting', role: 'assistant', content: '안녕!' }]);
    expect(greetingOf(session({ conversationId: 'conv1' }))).toEqual([]);
  });

  it('leaves the turn that is still streaming out of the stored messages', () => {
    const at = '2026-01-01T00:00:00.000Z';
    const stored = storedMessages(
      [
        { role: 'assistant', content: '안녕!', job_id: null, created_at: at, alternatives: [], selected: 0 },
        { role: 'user', content: 'a', job_id: 'j1', created_at: at, alternatives: [], selected: 0 },
        { role: 'assistant', content: 'b', job_id: 'j1', created_at: at, alternatives: [], selected: 0 },
        { role: 'user', content: 'c', job_id: 'j2', created_at: at, alternatives: [], selected: 0 },
      ],
      'j2',
    );
    expect(stored.map((m) => m.key)).toEqual(['assistant-g0', 'user-j1', 'assistant-j1']);
  });

  it('ends a turn with both messages, or the question alone with why no reply came', () => {
    const done = run(
      [
        ['token', { delta: 'hi' }, '1-0'],
        ['done', { status: 'completed' }, '2-0'],
      ],
      initialReply('j3'),
    );
    expect(finishedTurn('q', done, true)).toMatchObject([
      { key: 'user-j3', content: 'q' },
      { key: 'assistant-j3', content: 'hi', autoplay: true },
    ]);
    const failed = run([
      ['error', { code: 'backend_timeout', message: 'too slow' }, '1-0'],
      ['done', { status: 'failed' }, '2-0'],
    ]);
    expect(finishedTurn('q', failed, true)).toEqual([
      expect.objectContaining({ key: 'user-j1', unanswered: { phase: 'failed', error: 'too slow' } }),
    ]);
  });
});

describe('Enter in the message box', () => {
  const key = (over: Partial<Parameters<typeof isSendKey>[0]> = {}) => ({
    key: 'Enter',
    shiftKey: false,
    isComposing: false,
    keyCode: 13,
    ...over,
  });
  it('sends on Enter, not on Shift+Enter or other keys', () => {
    expect(isSendKey(key(), false)).toBe(true);
    expect(isSendKey(key({ shiftKey: true }), false)).toBe(false);
    expect(isSendKey(key({ key: 'a', keyCode: 65 }), false)).toBe(false);
  });
  it('never sends while an IME composes (Hangul)', () => {
    expect(isSendKey(key({ isComposing: true }), false)).toBe(false);
    expect(isSendKey(key(), true)).toBe(false);
    expect(isSendKey(key({ keyCode: 229 }), false)).toBe(false);
  });
});

describe('stored messages after a change', () => {
  const at = '2026-01-01T00:00:00.000Z';
  const msg = (
    role: 'user' | 'assistant',
    content: string,
    job: string | null,
    alts?: string[],
    sel = 0,
  ) => ({
    role,
    content,
    job_id: job,
    created_at: at,
    alternatives: alts ?? [content],
    selected: sel,
  });

  it('numbers each message by its place in the stored list and keeps its alternatives', () => {
    const stored = storedMessages(
      [msg('assistant', '안녕!', null), msg('user', 'a', 'j1'), msg('assistant', 'c', 'j3', ['b', 'c'], 1)],
      undefined,
    );
    expect(stored.map((m) => [m.key, m.stored])).toEqual([
      ['assistant-g0', { index: 0, alternatives: ['안녕!'], selected: 0 }],
      ['user-j1', { index: 1, alternatives: ['a'], selected: 0 }],
      ['assistant-j3', { index: 2, alternatives: ['b', 'c'], selected: 1 }],
    ]);
  });

  it('replaces the log with the stored messages, keeping a reply’s speech and a later unanswered message', () => {
    const done = run([
      ['reply', reply('b'), '1-0'],
      ['tts', { status: 'completed', mode: 'realtime' }, '2-0'],
      ['done', { status: 'completed' }, '3-0'],
    ]);
    const greeting: Msg = {
      key: 'greeting',
      role: 'assistant',
      content: '안녕!',
      jobId: null,
      tts: null,
      autoplay: false,
    };
    const failed: Msg = {
      ...finishedTurn('again', initialReply('j2'), false)[0]!,
      unanswered: { phase: 'failed', error: 'x' },
    };
    const now = [greeting, ...finishedTurn('a', done, true), failed];
    const stored = storedMessages(
      [msg('assistant', '안녕!', null), msg('user', 'a', 'j1'), msg('assistant', 'b', 'j1')],
      undefined,
    );
    const merged = withStored(now, stored);
    expect(merged.map((m) => m.key)).toEqual(['assistant-g0', 'user-j1', 'assistant-j1', 'user-j2']);
    expect(merged[2]).toMatchObject({ tts: { status: 'completed' }, autoplay: true, stored: { index: 2 } });
    expect(merged[3]?.unanswered?.phase).toBe('failed');
  });

  it('puts a regenerated reply in place once stored (same key as the live one)', () => {
    const regen = run(
      [
        ['reply', reply('b2'), '1-0'],
        ['done', { status: 'completed' }, '2-0'],
      ],
      initialReply('j9'),
    );
    const stored = storedMessages(
      [msg('user', 'a', 'j1'), msg('assistant', 'b2', 'j9', ['b', 'b2'], 1)],
      undefined,
    );
    const merged = withStored(
      [...storedMessages([msg('user', 'a', 'j1')], undefined), finishedReply(regen, false)],
      stored,
    );
    expect(merged.map((m) => [m.key, m.content])).toEqual([
      ['user-j1', 'a'],
      ['assistant-j9', 'b2'],
    ]);
    // Back to the first alternative: another job's text, the one shown before is gone.
    const back = storedMessages(
      [msg('user', 'a', 'j1'), msg('assistant', 'b', 'j1', ['b', 'b2'], 0)],
      undefined,
    );
    expect(withStored(merged, back).map((m) => [m.key, m.content])).toEqual([
      ['user-j1', 'a'],
      ['assistant-j1', 'b'],
    ]);
  });
});

describe('sampling settings', () => {
  it('sends only the fields that are filled in, numbers as numbers and stop as lines', () => {
    expect(samplingRequest({})).toEqual({});
    expect(samplingRequest({ temperature: ' ', top_k: '40', min_p: '0.05', stop: '###\n\nUser:' })).toEqual({
      top_k: 40,
      min_p: 0.05,
      stop: ['###', 'User:'],
    });
    expect(samplingSummary({ seed: '7', stop: 'a\nb' })).toBe('seed 7 · stop 2');
  });

  it('hints the ranges the api checks (ChatJobRequest): each bound is taken, a step past it is refused', () => {
    for (const f of NUMBER_FIELDS) {
      const ok = (v: number) => ChatJobRequest.safeParse({ message: 'x', [f.key]: v }).success;
      if (f.min !== undefined) {
        expect(ok(f.min), `${f.key} ${f.min}`).toBe(!f.above);
        expect(ok(f.min - f.step), `${f.key} below`).toBe(false);
      }
      if (f.max !== undefined) {
        expect(ok(f.max), `${f.key} ${f.max}`).toBe(true);
        expect(ok(f.max + f.step), `${f.key} above`).toBe(false);
      }
    }
    expect(NUMBER_FIELDS.map((f) => f.key).sort()).toEqual([
      'frequency_penalty',
      'max_tokens',
      'min_p',
      'presence_penalty',
      'repetition_penalty',
      'seed',
      'temperature',
      'top_k',
      'top_p',
    ]);
  });
});

describe('language', () => {
  it('follows the browser, then the saved choice', () => {
    expect(pickLang(null, ['ko-KR', 'en'])).toBe('ko');
    expect(pickLang(null, ['en-US'])).toBe('en');
    expect(pickLang(null, [])).toBe('en');
    expect(pickLang('en', ['ko-KR'])).toBe('en');
  });
  it('has every text in both languages, with the guest button the contract names', () => {
    expect(Object.keys(TEXTS.ko).sort()).toEqual(Object.keys(TEXTS.en).sort());
    expect(translator('ko')('continueAsGuest')).toContain('게스트');
    expect(translator('en')('continueAsGuest').toLowerCase()).toContain('guest');
    expect(translator('en')('queuedAt', { n: 3 })).toBe('Waiting in line: number 3.');
  });
});
