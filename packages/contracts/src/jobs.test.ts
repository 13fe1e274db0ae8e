import { describe, expect, it } from 'vitest';
import { type ChatJobData, decodeChatJob, encodeChatJob } from './jobs.js';

const full: ChatJobData = {
  job_id: 'j1',
  owner: 'u1',
  conversation_id: 'c1',
  turn: 2,
  kind: 'roleplay',
  message: 'hello',
  character: { id: null, name: 'Mina', persona: 'a pilot', voice_id: null, greeting: null },
  persona: null,
  scenario: null,
  model: 'm',
  temperature: 0,
  top_p: null,
  max_tokens: 64,
  stop: null,
  seed: null,
  tts: false,
  tts_mode: 'realtime',
  voice_id: null,
  created_at: 1_000,
  user_name: null,
};
const holder = { job_id: 'j1', created_at: 1_000 };

describe('the stored form of a chat job', () => {
  it('leaves out nulls, defaults and what its holder has, and decodes back to the same job', () => {
    const stored = encodeChatJob(full);
    expect(stored).toEqual({
      owner: 'u1',
      conversation_id: 'c1',
      turn: 2,
      message: 'hello',
      character: { name: 'Mina', persona: 'a pilot' },
      model: 'm',
      temperature: 0,
      max_tokens: 64,
    });
    expect(decodeChatJob(JSON.parse(JSON.stringify(stored)), holder)).toEqual(full);
  });

  it('keeps what differs from the defaults', () => {
    const job: ChatJobData = {
      ...full,
      kind: 'openai',
      messages: [{ role: 'user', content: 'hi' }],
      top_p: 0.9,
      stop: ['\n'],
      seed: 7,
      tts: true,
      tts_mode: 'delayed',
      voice_id: 'v',
      user_name: 'Ann',
      regenerate: true,
      params: { top_k: 5 },
    };
    expect(decodeChatJob(JSON.parse(JSON.stringify(encodeChatJob(job))), holder)).toEqual(job);
  });

  it('keeps a stored character by reference: its id, name and voice, not its persona or lorebook', () => {
    const job: ChatJobData = {
      ...full,
      character: {
        id: 'ch1',
        name: 'Keeper',
        persona: 'x'.repeat(5_000),
        voice_id: 'v1',
        greeting: 'The lamp is lit.',
        lorebook: { entries: [], scan_depth: 4, token_budget: 512 },
      },
    };
    const stored = encodeChatJob(job);
    expect(stored.character).toEqual({ id: 'ch1', by_reference: true, name: 'Keeper', voice_id: 'v1' });
    expect(JSON.stringify(stored).length).toBeLessThan(300);
    expect(decodeChatJob(stored, holder).character).toEqual({
      id: 'ch1',
      name: 'Keeper',
      persona: null,
      voice_id: 'v1',
      greeting: null,
      by_reference: true,
    });
  });

  it('reads a full job written before the stored form', () => {
    expect(decodeChatJob(JSON.parse(JSON.stringify(full)), { job_id: 'other', created_at: 5 })).toEqual(full);
  });
});
