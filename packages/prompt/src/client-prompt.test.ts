import { describe, expect, it } from 'vitest';
import { type ClientMessage, droppedCallerMessages, fitClientMessages } from './client-prompt.js';
import { fitToContext } from './fit.js';
import { NEUTRAL_OPENING, normalizeForGemma } from './messages.js';

const s = (content: string, name?: string): ClientMessage => ({
  role: 'system',
  content,
  ...(name ? { name } : {}),
});
const u = (content: string, name?: string): ClientMessage => ({
  role: 'user',
  content,
  ...(name ? { name } : {}),
});
const a = (content: string): ClientMessage => ({ role: 'assistant', content });

describe('fitClientMessages', () => {
  it('makes the leading system messages the system prompt, writing names into the text', () => {
    const { messages } = fitClientMessages([
      s('main'),
      s('hi', 'example_user'),
      s('yo', 'example_assistant'),
      u('q'),
    ]);
    expect(messages).toEqual([
      { role: 'system', content: 'main\n\nexample_user: hi\n\nexample_assistant: yo' },
      { role: 'user', content: 'q' },
    ]);
  });

  it('keeps a later system message at its place: joined to the user turn next to it, in order', () => {
    const { messages } = fitClientMessages([s('S'), u('u1'), a('a1'), s('note'), u('u2'), s('after')]);
    expect(messages).toEqual([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'u1' },
      { role: 'assistant', content: 'a1' },
      { role: 'user', content: 'note\n\nu2\n\nafter' },
    ]);
  });

  it('makes a system message between two assistant turns a user turn of its own', () => {
    const { messages, continueFinal } = fitClientMessages([u('u1'), a('a1'), s('nudge'), a('a2')]);
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(messages[2]!.content).toBe('nudge');
    expect(continueFinal).toBe(true);
  });

  it('keeps a name on a message that stands alone, and writes names in when turns merge', () => {
    expect(fitClientMessages([u('hello', 'Robin')]).messages).toEqual([
      { role: 'user', content: 'hello', name: 'Robin' },
    ]);
    expect(fitClientMessages([u('one', 'Robin'), u('two', 'Ash')]).messages).toEqual([
      { role: 'user', content: 'Robin: one\n\nAsh: two' },
    ]);
  });

  it('puts a neutral turn, in no language, before an assistant greeting', () => {
    const r = fitClientMessages([s('S'), a('Hello there, traveller.'), u('hi')]);
    expect(r.messages[1]).toEqual({ role: 'user', content: NEUTRAL_OPENING });
    expect(NEUTRAL_OPENING).not.toMatch(/\p{L}/u);
    expect(r.openedNeutral).toBe(true);
    expect(r.continueFinal).toBe(false);
  });

  it('leaves tool calls and results as they are', () => {
    const call = { id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } };
    const input: ClientMessage[] = [
      u('q'),
      { role: 'assistant', content: '', tool_calls: [call] },
      { role: 'tool', content: '1', tool_call_id: 'c1' },
      { role: 'tool', content: '2', tool_call_id: 'c1' },
    ];
    const r = fitClientMessages(input);
    expect(r.messages).toEqual(input);
    expect(r.continueFinal).toBe(false);
  });

  it('is already in Gemma shape: the trimming normalisation changes nothing', () => {
    const { messages } = fitClientMessages([s('S'), a('greet'), u('u1', 'Robin'), a('a1'), s('n'), u('u2')]);
    expect(normalizeForGemma(messages)).toEqual(messages);
  });

  it('counts only the caller’s messages as left out when trimming drops the opening turn', async () => {
    const long = 'word '.repeat(200);
    const prompt = fitClientMessages([s('S'), a(long), u(long), a(long), u('last')]);
    const fit = await fitToContext(prompt.messages, { maxContextTokens: 400, maxTokens: 100 });
    // Dropped: [opening, greeting] and [user, assistant]: three of the caller's messages.
    expect(fit.messages).toEqual([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'last' },
    ]);
    expect(droppedCallerMessages(prompt, fit)).toBe(3);
  });
});
