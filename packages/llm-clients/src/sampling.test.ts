import { type BackendSim, startBackendSim } from '@gateway/backend-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChatMessage,
  type ChatRequest,
  createLlmClient,
  type LlmClient,
  ollamaChatBody,
  vllmChatBody,
} from './index.js';
import { VllmStreamState } from './vllm.js';

const MODELS = { vllm: 'unsloth/gemma-3-27b-it-bnb-4bit', ollama: 'gemma-3-27b-it' } as const;
const messages: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Roll for me.', name: 'Robin' },
];
const sampling = {
  topK: 40,
  minP: 0.05,
  repetitionPenalty: 1.1,
  presencePenalty: 0.4,
  frequencyPenalty: 0.3,
  logprobs: true,
  topLogprobs: 2,
};
const req: ChatRequest = {
  model: 'm',
  messages,
  maxTokens: 50,
  temperature: 0.8,
  topP: 0.9,
  stop: ['\n'],
  seed: 3,
  sampling,
};

describe('sampler mapping', () => {
  it('puts every field at the top level of the vLLM body under its own name', () => {
    const body = vllmChatBody(
      { ...req, sampling: { ...sampling, logitBias: { '7': -100 } }, n: 2, continueFinal: true },
      false,
    );
    expect(body).toMatchObject({
      max_tokens: 50,
      temperature: 0.8,
      top_p: 0.9,
      top_k: 40,
      min_p: 0.05,
      repetition_penalty: 1.1,
      presence_penalty: 0.4,
      frequency_penalty: 0.3,
      logit_bias: { '7': -100 },
      logprobs: true,
      top_logprobs: 2,
      stop: ['\n'],
      seed: 3,
      n: 2,
      continue_final_message: true,
      add_generation_prompt: false,
    });
    expect(body['messages']).toEqual([messages[0], { role: 'user', content: 'Roll for me.', name: 'Robin' }]);
    // n = 1 is vLLM's default: not sent.
    expect(vllmChatBody({ ...req, n: 1 }, false)).not.toHaveProperty('n');
  });

  it('puts them in Ollama options under Ollama names, with keep_alive, format and the name in the text', () => {
    const body = ollamaChatBody(
      { ...req, sampling: { ...sampling, topK: -1 }, responseFormat: { type: 'json_object' } },
      true,
      4096,
      '24h',
    );
    expect(body).toMatchObject({
      keep_alive: '24h',
      format: 'json',
      logprobs: true,
      top_logprobs: 2,
      stream: true,
    });
    expect(body['options']).toEqual({
      num_predict: 50,
      temperature: 0.8,
      top_p: 0.9,
      top_k: 0,
      min_p: 0.05,
      repeat_penalty: 1.1,
      presence_penalty: 0.4,
      frequency_penalty: 0.3,
      stop: ['\n'],
      seed: 3,
      num_ctx: 4096,
    });
    expect((body['messages'] as ChatMessage[])[1]).toEqual({ role: 'user', content: 'Robin: Roll for me.' });
    const schema = { type: 'object', properties: {} };
    const typed = ollamaChatBody(
      { ...req, responseFormat: { type: 'json_schema', json_schema: { name: 'x', schema } } },
      false,
      4096,
    );
    expect(typed['format']).toEqual(schema);
    expect(typed).not.toHaveProperty('keep_alive');
  });

  it('sends Ollama tool-call arguments as objects and names the tool of a result', () => {
    const body = ollamaChatBody(
      {
        ...req,
        messages: [
          { role: 'user', content: 'q' },
          {
            role: 'assistant',
            content: '',
            tool_calls: [{ id: 'c1', type: 'function', function: { name: 'roll', arguments: '{"n":2}' } }],
          },
          { role: 'tool', content: '4', tool_call_id: 'c1' },
        ],
        tools: [{ type: 'function', function: { name: 'roll' } }],
        toolChoice: 'none',
      },
      false,
      4096,
    );
    expect(body['messages']).toEqual([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'roll', arguments: { n: 2 } } }] },
      { role: 'tool', content: '4', tool_name: 'roll' },
    ]);
    // tool_choice "none": the tools are not offered.
    expect(body).not.toHaveProperty('tools');
  });

  it('folds a vLLM stream of n choices, tool-call pieces and logprobs', () => {
    const tokens: string[] = [];
    const s = new VllmStreamState('m', (t) => tokens.push(t));
    const chunk = (choices: unknown[]) => JSON.stringify({ choices });
    const lp = (t: string) => ({ content: [{ token: t, logprob: -0.5, bytes: [], top_logprobs: [] }] });
    s.handle(chunk([{ index: 0, delta: { role: 'assistant', content: '' } }]));
    s.handle(chunk([{ index: 0, delta: { content: 'Hi' }, logprobs: lp('Hi') }]));
    s.handle(chunk([{ index: 1, delta: { content: 'Yo' } }]));
    s.handle(chunk([{ index: 0, delta: { content: '!' }, logprobs: lp('!'), finish_reason: 'stop' }]));
    s.handle(
      chunk([
        {
          index: 1,
          delta: {
            tool_calls: [{ index: 0, id: 'c9', type: 'function', function: { name: 'roll', arguments: '' } }],
          },
        },
      ]),
    );
    s.handle(chunk([{ index: 1, delta: { tool_calls: [{ index: 0, function: { arguments: '{"n":' } }] } }]));
    s.handle(
      chunk([
        {
          index: 1,
          delta: { tool_calls: [{ index: 0, function: { arguments: '2}' } }] },
          finish_reason: 'tool_calls',
        },
      ]),
    );
    s.handle('[DONE]');
    const r = s.result();
    // Only the first choice streams to the caller.
    expect(tokens.join('')).toBe('Hi!');
    expect(r.content).toBe('Hi!');
    expect(r.logprobs?.content.map((e) => (e as { token: string }).token)).toEqual(['Hi', '!']);
    expect(r.choices?.[1]).toEqual({
      content: 'Yo',
      finishReason: 'stop',
      toolCalls: [{ id: 'c9', type: 'function', function: { name: 'roll', arguments: '{"n":2}' } }],
    });
  });
});

describe.each(['vllm', 'ollama'] as const)('%s client: n, logprobs, tools against backend-sim', (kind) => {
  let sim: BackendSim;
  let client: LlmClient;
  const model = MODELS[kind];
  const ask = (extra: Partial<ChatRequest>, stream = true) => {
    const r = { model, messages, maxTokens: 20, ...extra };
    return stream ? client.chatStream(r, { onToken: () => {} }) : client.chat(r);
  };

  beforeAll(async () => {
    sim = await startBackendSim({
      kind,
      replyTokens: 6,
      models: [model],
      maxModelLen: 2048,
      autoToolChoice: true,
    });
    client = createLlmClient({ service: kind, baseUrl: sim.url, timeoutMs: 5000, keepAlive: -1 });
  });
  afterAll(async () => {
    await client.close();
    await sim.close();
  });

  it.each([true, false])('answers n = 3 with three choices (stream: %s)', async (stream) => {
    sim.resetStats();
    const r = await ask({ n: 3, seed: 1 }, stream);
    expect(r.choices).toHaveLength(3);
    expect(r.choices?.[0]?.content).toBe(r.content);
    // vLLM takes n; Ollama runs n times (all at once: see the next test), with seeds 1, 2, 3.
    const sent = sim.requests();
    expect(sent.length).toBe(kind === 'vllm' ? 1 : 3);
    if (kind === 'ollama') {
      const seeds = sent.map((q) => (q.body as { options: { seed: number } }).options.seed);
      expect(seeds.sort()).toEqual([1, 2, 3]);
    }
  });

  it('sends the n sequences at once, and stops every one of them when aborted', async () => {
    sim.configure({ paused: true });
    try {
      const abort = new AbortController();
      const r = { model, messages, maxTokens: 20, n: 3 };
      const asked = client.chatStream(r, { onToken: () => {}, signal: abort.signal });
      const open = kind === 'vllm' ? 1 : 3;
      await expect.poll(() => sim.stats().inFlight).toBe(open);
      abort.abort();
      await expect(asked).rejects.toThrow();
      await expect.poll(() => sim.stats().inFlight).toBe(0);
    } finally {
      sim.configure({ paused: false });
    }
  });

  it('returns logprobs whose tokens make up the text', async () => {
    for (const stream of [true, false]) {
      const r = await ask({ sampling: { logprobs: true, topLogprobs: 2 } }, stream);
      const entries = r.logprobs?.content as { token: string; top_logprobs: unknown[] }[];
      expect(entries.map((e) => e.token).join('')).toBe(r.content);
      expect(entries.every((e) => e.top_logprobs.length === 2)).toBe(true);
    }
  });

  it('maps a tool call back to OpenAI shape, streaming or not', async () => {
    const tools = [{ type: 'function', function: { name: 'roll', parameters: { type: 'object' } } }];
    for (const stream of [true, false]) {
      const r = await ask({ tools, toolChoice: 'auto' }, stream);
      expect(r.toolCalls).toEqual([
        {
          id: expect.any(String),
          type: 'function',
          function: { name: 'roll', arguments: expect.stringContaining('query') },
        },
      ]);
      expect(JSON.parse(r.toolCalls![0]!.function.arguments)).toEqual({ query: expect.any(String) });
    }
  });

  it('reports the context window only where the server says it (vLLM max_model_len)', async () => {
    expect(await client.contextWindow(model)).toBe(kind === 'vllm' ? 2048 : null);
    if (kind === 'ollama')
      expect((sim.requests().at(-1)!.body as { keep_alive?: unknown }).keep_alive).toBe(-1);
  });
});
