// The official npm clients, unchanged, must work against the sim: proof the wire format holds.

import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simReply } from './reply.js';
import { startBackendSim } from './server.js';
import { HELLO } from './test-helpers.js';
import { countSimTokens } from './tokenizer.js';
import type { BackendSim } from './types.js';

type Msg = { role: 'system' | 'user' | 'assistant'; content: string };
const messages = HELLO as Msg[];
const expected = simReply(HELLO, 512).pieces.join('');

describe('openai SDK against vLLM mode', () => {
  let sim: BackendSim;
  let client: OpenAI;
  beforeAll(async () => {
    sim = await startBackendSim({ kind: 'vllm' });
    client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'x', maxRetries: 0 });
  });
  afterAll(() => sim.close());

  it('chat.completions.create non-stream', async () => {
    const r = await client.chat.completions.create({
      model: 'unsloth/gemma-3-27b-it-bnb-4bit',
      messages,
      max_tokens: 512,
    });
    expect(r.choices[0]?.message.content).toBe(expected);
    expect(r.choices[0]?.finish_reason).toBe('stop');
    expect(r.usage?.prompt_tokens).toBe(countSimTokens(HELLO));
  });

  it('chat.completions.create stream with include_usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'unsloth/gemma-3-27b-it-bnb-4bit',
      messages,
      max_tokens: 512,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish ??= chunk.choices[0]?.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(expected);
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBe(simReply(HELLO, 512).pieces.length + 1);
  });

  it('models.list and typed errors', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['unsloth/gemma-3-27b-it-bnb-4bit']);
    const err = await client.chat.completions.create({ model: 'nope', messages }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    sim.configure({ faults: { streamErrorRate: 1 } });
    const s = await client.chat.completions.create({
      model: 'unsloth/gemma-3-27b-it-bnb-4bit',
      messages,
      stream: true,
    });
    const drain = async () => {
      for await (const _ of s) {
        // reading until the in-band error
      }
    };
    await expect(drain()).rejects.toBeInstanceOf(OpenAI.APIError);
    sim.configure({ faults: { streamErrorRate: 0 } });
  });
});

describe('ollama client against Ollama mode', () => {
  let sim: BackendSim;
  let client: Ollama;
  beforeAll(async () => {
    sim = await startBackendSim({ kind: 'ollama' });
    client = new Ollama({ host: sim.url });
  });
  afterAll(() => sim.close());

  it('chat non-stream', async () => {
    const r = await client.chat({
      model: 'gemma-3-27b-it',
      messages,
      stream: false,
      options: { num_ctx: 4096 },
    });
    expect(r.message.content).toBe(expected);
    expect(r.done_reason).toBe('stop');
    expect(r.prompt_eval_count).toBe(countSimTokens(HELLO));
  });

  it('chat stream', async () => {
    const stream = await client.chat({
      model: 'gemma-3-27b-it',
      messages,
      stream: true,
      options: { num_predict: 6 },
    });
    let text = '';
    let last: { done: boolean; done_reason: string; eval_count: number } | undefined;
    for await (const part of stream) {
      text += part.message.content;
      last = part;
    }
    expect(text).toBe(simReply(HELLO, 6).pieces.join(''));
    expect(last).toMatchObject({ done: true, done_reason: 'length', eval_count: 6 });
  });

  it('list, version and errors', async () => {
    const list = await client.list();
    expect(list.models.map((m) => m.name)).toEqual(['gemma-3-27b-it:latest']);
    expect((await client.version()).version).toBe('0.12.0');
    const err = await client.chat({ model: 'nope', messages, stream: false }).catch((e: unknown) => e);
    expect((err as { status_code?: number }).status_code).toBe(404);
    sim.configure({ faults: { streamErrorRate: 1 } });
    const s = await client.chat({ model: 'gemma-3-27b-it', messages, stream: true });
    const drain = async () => {
      for await (const _ of s) {
        // reading until the error line
      }
    };
    await expect(drain()).rejects.toThrow('an error was encountered while running the model');
    sim.configure({ faults: { streamErrorRate: 0 } });
  });
});
