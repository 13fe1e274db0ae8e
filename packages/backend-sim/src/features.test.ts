// Sampling, n, logprobs, tools and structured output on the simulator, read back with the official
// `openai` and `ollama` clients: the wire shapes are ones those clients parse, the refusals are the
// real servers' own.

import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackendSim } from './server.js';
import type { BackendSim } from './types.js';

const VLLM_MODEL = 'unsloth/gemma-3-27b-it-bnb-4bit';
const OLLAMA_MODEL = 'gemma-3-27b-it';
const messages = [{ role: 'user' as const, content: 'Pick a card.' }];
const tools = [
  {
    type: 'function' as const,
    function: { name: 'draw', parameters: { type: 'object', properties: { query: { type: 'string' } } } },
  },
];

describe('vLLM simulator: sampling and OpenAI extras', () => {
  let sim: BackendSim;
  let client: OpenAI;
  beforeAll(async () => {
    sim = await startBackendSim({ kind: 'vllm', replyTokens: 8 });
    client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'x', maxRetries: 0 });
  });
  afterAll(() => sim.close());

  it('takes every sampler field and records the body as sent', async () => {
    const extra = { top_k: 40, min_p: 0.1, repetition_penalty: 1.2 };
    await client.chat.completions.create({
      model: VLLM_MODEL,
      messages,
      presence_penalty: 0.5,
      frequency_penalty: 0.5,
      logit_bias: { '42': -100 },
      seed: 9,
      ...extra,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(sim.requests().at(-1)!.body).toMatchObject({ ...extra, logit_bias: { '42': -100 }, seed: 9 });
  });

  it.each([
    [{ top_p: 0 }, 'top_p'],
    [{ repetition_penalty: 0 }, 'repetition_penalty'],
    [{ min_p: 2 }, 'min_p'],
    [{ top_k: -3 }, 'top_k'],
    [{ logprobs: true, top_logprobs: 21 }, 'top_logprobs'],
    [{ top_logprobs: 2 }, 'top_logprobs'],
    [{ continue_final_message: true }, 'continue_final_message'],
    [{ tools, tool_choice: 'auto' }, 'tool_choice'],
  ])('refuses %j as vLLM does, naming %s', async (extra, param) => {
    const err = await client.chat.completions
      .create({ model: VLLM_MODEL, messages, ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({ param });
  });

  it('answers n choices with logprobs, streaming and not', async () => {
    const r = await client.chat.completions.create({
      model: VLLM_MODEL,
      messages,
      n: 2,
      logprobs: true,
      top_logprobs: 2,
    });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1]);
    for (const c of r.choices) {
      expect(c.logprobs!.content!.map((t) => t.token).join('')).toBe(c.message.content);
      expect(c.logprobs!.content!.every((t) => t.top_logprobs.length === 2)).toBe(true);
    }
    const text = ['', ''];
    for await (const c of await client.chat.completions.create({
      model: VLLM_MODEL,
      messages,
      n: 2,
      stream: true,
    })) {
      for (const ch of c.choices) text[ch.index] += ch.delta.content ?? '';
    }
    expect(text).toEqual(r.choices.map((c) => c.message.content));
  });

  it('continues a final assistant message when asked the way vLLM wants it', async () => {
    const r = await client.chat.completions.create({
      model: VLLM_MODEL,
      messages: [...messages, { role: 'assistant', content: 'I pick' }],
      continue_final_message: true,
      add_generation_prompt: false,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(r.choices[0]!.message.content).toBeTruthy();
  });

  it('calls a named tool, and with --enable-auto-tool-choice an auto one, streaming or not', async () => {
    const named = await client.chat.completions.create({
      model: VLLM_MODEL,
      messages,
      tools,
      tool_choice: { type: 'function', function: { name: 'draw' } },
    });
    expect(named.choices[0]!.finish_reason).toBe('tool_calls');
    expect(named.choices[0]!.message.tool_calls![0]).toMatchObject({
      type: 'function',
      function: { name: 'draw', arguments: JSON.stringify({ query: 'Pick a card.' }) },
    });
    sim.configure({ autoToolChoice: true });
    try {
      const stream = client.chat.completions.stream({
        model: VLLM_MODEL,
        messages,
        tools,
        tool_choice: 'auto',
      });
      const done = await stream.finalChatCompletion();
      expect(done.choices[0]!.message.tool_calls![0]!.function).toEqual({
        name: 'draw',
        arguments: JSON.stringify({ query: 'Pick a card.' }),
      });
    } finally {
      sim.configure({ autoToolChoice: false });
    }
  });

  it('follows response_format: JSON for json_object, the schema for json_schema', async () => {
    const obj = await client.chat.completions.create({
      model: VLLM_MODEL,
      messages,
      response_format: { type: 'json_object' },
    });
    expect(JSON.parse(obj.choices[0]!.message.content!)).toHaveProperty('reply');
    const schema = { type: 'object', properties: { card: { type: 'string' }, count: { type: 'integer' } } };
    const typed = await client.chat.completions.create({
      model: VLLM_MODEL,
      messages,
      response_format: { type: 'json_schema', json_schema: { name: 'card', schema } },
    });
    expect(Object.keys(JSON.parse(typed.choices[0]!.message.content!))).toEqual(['card', 'count']);
  });
});

describe('Ollama simulator: options, format, tools, logprobs', () => {
  let sim: BackendSim;
  let client: Ollama;
  beforeAll(async () => {
    sim = await startBackendSim({ kind: 'ollama', replyTokens: 8 });
    client = new Ollama({ host: sim.url });
  });
  afterAll(() => sim.close());

  it('takes Ollama option names and keep_alive, and refuses a wrong option type', async () => {
    const options = {
      top_k: 40,
      min_p: 0.1,
      repeat_penalty: 1.2,
      presence_penalty: 0.3,
      frequency_penalty: 0.2,
    };
    await client.chat({ model: OLLAMA_MODEL, messages, options, keep_alive: '24h' });
    expect(sim.requests().at(-1)!.body).toMatchObject({ options, keep_alive: '24h' });
    await expect(
      client.chat({ model: OLLAMA_MODEL, messages, options: { top_k: 'many' as unknown as number } }),
    ).rejects.toMatchObject({ status_code: 400, error: 'option "top_k" must be of type number' });
  });

  it('answers format json and a schema, tool calls and logprobs as the ollama client reads them', async () => {
    const json = await client.chat({ model: OLLAMA_MODEL, messages, format: 'json' });
    expect(JSON.parse(json.message.content)).toHaveProperty('reply');
    const called = await client.chat({ model: OLLAMA_MODEL, messages, tools });
    expect(called.message.tool_calls?.[0]?.function).toEqual({
      index: 0,
      name: 'draw',
      arguments: { query: 'Pick a card.' },
    });
    const lp = await client.chat({ model: OLLAMA_MODEL, messages, logprobs: true, top_logprobs: 2 });
    expect(lp.logprobs?.map((t) => t.token).join('')).toBe(lp.message.content);
    let streamed = '';
    const tokens: string[] = [];
    for await (const part of await client.chat({
      model: OLLAMA_MODEL,
      messages,
      stream: true,
      logprobs: true,
    })) {
      streamed += part.message.content;
      for (const t of part.logprobs ?? []) tokens.push(t.token);
    }
    expect(tokens.join('')).toBe(streamed);
  });
});
