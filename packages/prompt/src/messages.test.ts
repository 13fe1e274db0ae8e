import { describe, expect, it } from 'vitest';
import { buildChatMessages, type ChatMessage, NEUTRAL_OPENING, normalizeForGemma } from './messages.js';

const u = (content: string): ChatMessage => ({ role: 'user', content });
const a = (content: string): ChatMessage => ({ role: 'assistant', content });
const s = (content: string): ChatMessage => ({ role: 'system', content });

/** The Gemma rules: at most one system, first; then strict alternation starting with user. */
function assertGemma(messages: ChatMessage[], opts: { endsWithUser?: boolean } = {}): void {
  const systems = messages.filter((m) => m.role === 'system');
  expect(systems.length).toBeLessThanOrEqual(1);
  if (systems.length === 1) expect(messages[0]?.role).toBe('system');
  const turns = messages.filter((m) => m.role !== 'system');
  turns.forEach((m, i) => {
    expect(m.role).toBe(i % 2 === 0 ? 'user' : 'assistant');
  });
  if (opts.endsWithUser) expect(turns[turns.length - 1]?.role).toBe('user');
}

describe('buildChatMessages', () => {
  it('empty history: system + user', () => {
    const out = buildChatMessages({ system: 'SYS', history: [], userMessage: '안녕' });
    expect(out).toEqual([s('SYS'), u('안녕')]);
  });

  it('greeting with empty history gets a synthetic opening', () => {
    const out = buildChatMessages({
      system: 'SYS',
      history: [],
      userMessage: '반가워',
      greeting: ' 어서 와! ',
    });
    expect(out).toEqual([s('SYS'), u(NEUTRAL_OPENING), a('어서 와!'), u('반가워')]);
    assertGemma(out, { endsWithUser: true });
    // The turn before the greeting is in no language: an English chat gets no Korean line.
    expect(NEUTRAL_OPENING).not.toMatch(/\p{L}/u);
  });

  it('blank greeting is ignored', () => {
    const out = buildChatMessages({ system: 'SYS', history: [], userMessage: 'hi', greeting: '  ' });
    expect(out).toEqual([s('SYS'), u('hi')]);
  });

  it('history starting with the assistant greeting gets a synthetic opening; greeting param not duplicated', () => {
    const out = buildChatMessages({
      system: 'SYS',
      history: [a('어서 와!'), u('안녕'), a('무슨 일이야?')],
      userMessage: '그냥',
      greeting: '어서 와!',
    });
    expect(out).toEqual([
      s('SYS'),
      u(NEUTRAL_OPENING),
      a('어서 와!'),
      u('안녕'),
      a('무슨 일이야?'),
      u('그냥'),
    ]);
  });

  it('merges consecutive same roles instead of dropping them', () => {
    const out = buildChatMessages({
      system: 'SYS',
      history: [u('a'), u('b'), a('c'), a('d'), u('e')],
      userMessage: 'f',
    });
    expect(out).toEqual([s('SYS'), u('a\n\nb'), a('c\n\nd'), u('e\n\nf')]);
    assertGemma(out, { endsWithUser: true });
  });

  it('merges system messages from history into the single system message', () => {
    const out = buildChatMessages({
      system: 'SYS',
      history: [s('extra 1'), u('hi'), s('extra 2'), a('hello')],
      userMessage: 'bye',
    });
    expect(out).toEqual([s('SYS\n\nextra 1\n\nextra 2'), u('hi'), a('hello'), u('bye')]);
  });

  it('system message between two user turns does not break the merge', () => {
    const out = buildChatMessages({ system: 'SYS', history: [u('x'), s('y'), u('z')], userMessage: 'w' });
    expect(out).toEqual([s('SYS\n\ny'), u('x\n\nz\n\nw')]);
  });

  it('does not mutate its input', () => {
    const history = [u('a'), u('b')];
    const copy = structuredClone(history);
    buildChatMessages({ system: 'S', history, userMessage: 'c' });
    expect(history).toEqual(copy);
  });

  it('satisfies the Gemma rules on many shapes', () => {
    const pool = [u('u'), a('a'), s('s')];
    // Every history of length 0..5 over {user, assistant, system}.
    for (let len = 0; len <= 5; len += 1) {
      for (let code = 0; code < 3 ** len; code += 1) {
        const history: ChatMessage[] = [];
        let c = code;
        for (let i = 0; i < len; i += 1) {
          history.push({ ...pool[c % 3]! });
          c = Math.floor(c / 3);
        }
        for (const greeting of [null, 'hello']) {
          const out = buildChatMessages({ system: 'S', history, userMessage: 'new', greeting });
          expect(out[0]?.role).toBe('system');
          assertGemma(out, { endsWithUser: true });
          expect(out[out.length - 1]?.content.endsWith('new')).toBe(true);
        }
      }
    }
  });
});

describe('normalizeForGemma', () => {
  it('merges all system messages in order into one first message', () => {
    expect(normalizeForGemma([u('hi'), s('one'), a('yo'), s('two'), u('q')])).toEqual([
      s('one\n\ntwo'),
      u('hi'),
      a('yo'),
      u('q'),
    ]);
  });

  it('omits the system message when there is none', () => {
    expect(normalizeForGemma([u('hi')])).toEqual([u('hi')]);
  });

  it('inserts a synthetic user turn before a leading assistant turn', () => {
    expect(normalizeForGemma([s('S'), a('greeting'), u('hi')])).toEqual([
      s('S'),
      u(NEUTRAL_OPENING),
      a('greeting'),
      u('hi'),
    ]);
  });

  it('keeps a trailing assistant turn', () => {
    const out = normalizeForGemma([u('hi'), a('partial'), a('more')]);
    expect(out).toEqual([u('hi'), a('partial\n\nmore')]);
    assertGemma(out);
  });

  it('is idempotent', () => {
    const input = [s('a'), a('b'), a('c'), s('d'), u('e'), u('f')];
    const once = normalizeForGemma(input);
    expect(normalizeForGemma(once)).toEqual(once);
  });

  it('handles empty and system-only input', () => {
    expect(normalizeForGemma([])).toEqual([]);
    expect(normalizeForGemma([s('x'), s('y')])).toEqual([s('x\n\ny')]);
  });
});
