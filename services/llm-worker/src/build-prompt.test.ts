import type { ChatJobData } from '@gateway/contracts';
import { describe, expect, it } from 'vitest';
import { backendFields, openAiPrompt, replyExtras } from './build-prompt.js';

const job = (over: Partial<ChatJobData>): ChatJobData => ({
  job_id: 'j',
  owner: 'o',
  conversation_id: 'j',
  turn: 0,
  kind: 'openai',
  message: '',
  character: { id: null, name: null, persona: null, voice_id: null, greeting: null },
  persona: null,
  scenario: null,
  model: 'm',
  temperature: 0.7,
  top_p: null,
  max_tokens: 64,
  tts: false,
  tts_mode: 'realtime',
  voice_id: null,
  created_at: 0,
  ...over,
});

describe('openAiPrompt', () => {
  it('puts a stored character first and keeps the caller’s later instructions in place', () => {
    const p = openAiPrompt(
      job({
        character: { id: 'c', name: 'Kestrel', persona: 'A keeper.', voice_id: null, greeting: null },
        messages: [
          { role: 'system', content: 'Main.' },
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'Storm.' },
          { role: 'system', content: 'Note.' },
        ],
      }),
    );
    expect(p.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(p.messages[0]!.content).toContain('Kestrel');
    expect(p.messages[0]!.content.endsWith('Main.')).toBe(true);
    expect(p.messages[3]!.content).toBe('Note.');
  });
});

describe('backendFields and replyExtras', () => {
  it('map the job’s fields to the client’s and leave out what was not asked for', () => {
    expect(backendFields({}, false)).toEqual({});
    expect(
      backendFields({ top_k: 5, repetition_penalty: 1.1, logprobs: true, n: 2, tool_choice: 'auto' }, true),
    ).toEqual({
      sampling: { topK: 5, repetitionPenalty: 1.1, logprobs: true },
      n: 2,
      toolChoice: 'auto',
      continueFinal: true,
    });
  });

  it('give the reply its logprobs, tool calls and every choice in OpenAI names', () => {
    const call = { id: 'c', type: 'function' as const, function: { name: 'f', arguments: '{}' } };
    const extras = replyExtras({
      content: 'a',
      finishReason: 'stop',
      usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 },
      model: 'm',
      logprobs: { content: [{ token: 'a' }] },
      choices: [
        { content: 'a', finishReason: 'stop', logprobs: { content: [{ token: 'a' }] } },
        { content: '', finishReason: 'stop', toolCalls: [call] },
      ],
    });
    expect(extras).toEqual({
      logprobs: { content: [{ token: 'a' }] },
      choices: [
        { content: 'a', finish_reason: 'stop', logprobs: { content: [{ token: 'a' }] } },
        { content: '', finish_reason: 'stop', tool_calls: [call] },
      ],
    });
  });
});
