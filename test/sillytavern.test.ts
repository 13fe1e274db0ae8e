import { randomBytes } from 'node:crypto';
import { countSimTokens, type RecordedRequest } from '@gateway/backend-sim';
import { DEFAULT_MODELS } from '@gateway/config';
import type { ApiKeyCreated } from '@gateway/contracts';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as st from './fixtures/sillytavern.js';
import { registerSession } from './support/auth.js';
import { call } from './support/http.js';
import { type Stack, startStack } from './support/stack.js';

/** What a backend request carried, in either protocol. */
interface WireBody {
  model: string;
  messages: { role: string; content: string; name?: string; tool_calls?: unknown[] }[];
  [field: string]: unknown;
  options?: Record<string, unknown>;
}

const HANGUL = /[\u3131-\uD79D]/;

/**
 * SillyTavern's request shapes (test/fixtures/sillytavern.ts) through `/v1`, asserting what reaches the
 * backend simulator, in both backend modes (issue #21, and the facade items of #18).
 */
describe.each(['vllm', 'ollama'] as const)('SillyTavern through /v1 with %s', (kind) => {
  let stack: Stack;
  let key: string;
  let client: OpenAI;
  const def = DEFAULT_MODELS[kind];

  const completions = (body: Record<string, unknown>) =>
    call<OpenAI.ChatCompletion & { error?: { param: string | null; message: string } }>(
      `${stack.apiUrl}/v1/chat/completions`,
      { body: { model: def, ...st.PRESET, ...body }, headers: { authorization: `Bearer ${key}` } },
    );
  const received = (): WireBody => stack.sim.requests().at(-1)!.body as WireBody;
  const sampler = (b: WireBody, vllmName: string, ollamaName = vllmName) =>
    kind === 'vllm' ? b[vllmName] : b.options?.[ollamaName];
  const chatRequests = (): RecordedRequest[] =>
    stack.sim.requests().filter((r) => r.path.endsWith('/chat/completions') || r.path === '/api/chat');

  beforeAll(async () => {
    stack = await startStack({
      kind,
      // A 1,024-token model: the vLLM server says so in /v1/models (max_model_len) while the configured
      // window is far larger; Ollama has no such report, so its window is the configured one.
      sim: { replyTokens: 12, maxModelLen: 1024, models: [DEFAULT_MODELS[kind], 'other-model'] },
      env: { LLM_MAX_CONTEXT_TOKENS: kind === 'vllm' ? '32768' : '1024', OLLAMA_KEEP_ALIVE: '-1' },
    });
    const session = await registerSession(
      stack.apiUrl,
      `st_${randomBytes(4).toString('hex')}`,
      'pw-st-test-1',
    );
    const res = await call<ApiKeyCreated>(`${stack.apiUrl}/auth/api-keys`, {
      body: { name: 'sillytavern' },
      headers: session.headers,
    });
    key = res.body.key;
    client = new OpenAI({ baseURL: `${stack.apiUrl}/v1`, apiKey: key, maxRetries: 0 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('passes every sampler slider on, under the backend’s own names', async () => {
    const res = await completions({
      messages: st.named,
      temperature: 0.9,
      top_p: 0.92,
      top_k: 40,
      min_p: 0.05,
      repetition_penalty: 1.12,
      presence_penalty: 0.4,
      frequency_penalty: 0.3,
      stop: ['\nRobin:'],
      seed: 1234,
    });
    expect(res.status).toBe(200);
    const b = received();
    expect(sampler(b, 'temperature')).toBe(0.9);
    expect(sampler(b, 'top_p')).toBe(0.92);
    expect(sampler(b, 'top_k')).toBe(40);
    expect(sampler(b, 'min_p')).toBe(0.05);
    expect(sampler(b, 'repetition_penalty', 'repeat_penalty')).toBe(1.12);
    expect(sampler(b, 'presence_penalty')).toBe(0.4);
    expect(sampler(b, 'frequency_penalty')).toBe(0.3);
    expect(sampler(b, 'stop')).toEqual(['\nRobin:']);
    expect(sampler(b, 'seed')).toBe(1234);
    expect(sampler(b, 'max_tokens', 'num_predict')).toBe(200);
    if (kind === 'ollama') {
      // The model stays loaded (OLLAMA_KEEP_ALIVE), and num_ctx is always sent.
      expect(b['keep_alive']).toBe(-1);
      expect(b.options?.['num_ctx']).toBe(1024);
    }
  });

  it('sends logit_bias to vLLM and refuses it for Ollama, naming it', async () => {
    const res = await completions({ messages: st.named, logit_bias: { '1000': -100, '2000': 5 } });
    if (kind === 'vllm') {
      expect(res.status).toBe(200);
      expect(received()['logit_bias']).toEqual({ '1000': -100, '2000': 5 });
    } else {
      const before = chatRequests().length;
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ param: 'logit_bias' });
      expect(chatRequests().length).toBe(before);
    }
  });

  it('returns logprobs and top_logprobs when asked, streaming or not', async () => {
    const res = await completions({ messages: st.named, logprobs: true, top_logprobs: 3 });
    expect(res.status).toBe(200);
    expect(received()['logprobs']).toBe(true);
    expect(received()['top_logprobs']).toBe(3);
    const lp = res.body.choices[0]!.logprobs!.content!;
    expect(lp.map((t) => t.token).join('')).toBe(res.body.choices[0]!.message.content);
    expect(lp.every((t) => t.top_logprobs.length === 3 && t.logprob <= 0)).toBe(true);

    const stream = await client.chat.completions.create({
      model: def,
      messages: st.named,
      stream: true,
      logprobs: true,
      top_logprobs: 2,
    });
    let text = '';
    const tokens: string[] = [];
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      for (const t of c.choices[0]?.logprobs?.content ?? []) tokens.push(t.token);
    }
    expect(tokens.join('')).toBe(text);
  });

  it('keeps example-dialogue names, and puts a neutral turn (no Korean) before an English greeting', async () => {
    const res = await completions({ messages: st.withExamples });
    expect(res.status).toBe(200);
    const { messages } = received();
    expect(messages[0]!.role).toBe('system');
    expect(messages[0]!.content).toContain('example_user: Is the light ever off?');
    expect(messages[0]!.content).toContain('example_assistant: Never. Not while I breathe.');
    expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(messages[1]!.content).not.toMatch(HANGUL);
    expect(messages[1]!.content.length).toBeLessThanOrEqual(3);
    expect(messages[2]!.content).toBe(st.withExamples[6]!.content);
  });

  it('keeps a speaker name: as `name` for vLLM, written into the text for Ollama', async () => {
    await completions({ messages: st.named });
    const last = received().messages.at(-1)!;
    if (kind === 'vllm') expect(last).toEqual({ role: 'user', content: st.named[1]!.content, name: 'Robin' });
    else expect(last).toEqual({ role: 'user', content: `Robin: ${st.named[1]!.content}` });
  });

  it("keeps an Author's Note and post-history instructions where SillyTavern put them", async () => {
    expect((await completions({ messages: st.authorsNote })).status).toBe(200);
    const { messages } = received();
    expect(messages.filter((m) => m.role === 'system')).toHaveLength(1);
    expect(messages[0]!.content).toBe(st.authorsNote[0]!.content);
    // The note, the user message and the instruction, in that order, as the last user turn.
    expect(messages.at(-1)).toEqual({
      role: 'user',
      content: [st.authorsNote[4], st.authorsNote[5], st.authorsNote[6]].map((m) => m!.content).join('\n\n'),
    });
    expect(messages.at(-2)!.content).toBe('Bread. Fine. Sit by the stove.');
  });

  it('puts the Impersonate instruction after the character’s turn, as the last user turn', async () => {
    expect((await completions({ messages: st.impersonate })).status).toBe(200);
    const { messages } = received();
    expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(messages.at(-1)!.content).toBe(st.impersonate[3]!.content);
    if (kind === 'vllm') expect(received()['continue_final_message']).toBeUndefined();
  });

  it('continues a final assistant message instead of starting a new reply', async () => {
    expect((await completions({ messages: st.continuePrefill })).status).toBe(200);
    const b = received();
    expect(b.messages.at(-1)).toEqual({ role: 'assistant', content: st.continuePrefill[2]!.content });
    if (kind === 'vllm') {
      expect(b['continue_final_message']).toBe(true);
      expect(b['add_generation_prompt']).toBe(false);
    }
  });

  it('answers n: 2 with two choices', async () => {
    const before = chatRequests().length;
    const res = await completions({ messages: st.named, n: 2, seed: 5 });
    expect(res.status).toBe(200);
    expect(res.body.choices.map((c) => c.index)).toEqual([0, 1]);
    if (kind === 'vllm') {
      expect(res.body.choices[0]!.message.content).not.toBe(res.body.choices[1]!.message.content);
      expect(received()['n']).toBe(2);
      expect(chatRequests().length).toBe(before + 1);
    } else {
      // Ollama has no `n`: two runs of the same job at once, each with its own seed.
      const runs = chatRequests().slice(before);
      expect(runs.map((r) => (r.body as WireBody).options?.['seed']).sort()).toEqual([5, 6]);
    }
  });

  it('streams n choices and tool calls that the SDK assembles', async () => {
    const final = await client.chat.completions
      .stream({ model: def, messages: st.named, n: 2, max_tokens: 30 })
      .finalChatCompletion();
    expect(final.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(final.choices.every((c) => (c.message.content ?? '').length > 0)).toBe(true);
    const tools = [
      { type: 'function' as const, function: { name: 'roll_dice', parameters: { type: 'object' } } },
    ];
    const called = await client.chat.completions
      .stream({
        model: def,
        messages: st.named,
        tools,
        tool_choice: kind === 'vllm' ? { type: 'function', function: { name: 'roll_dice' } } : 'auto',
      })
      .finalChatCompletion();
    expect(called.choices[0]!.finish_reason).toBe('tool_calls');
    expect(called.choices[0]!.message.tool_calls?.[0]).toMatchObject({
      type: 'function',
      function: { name: 'roll_dice' },
    });
  });

  it('takes an empty model as the default model and top_p 0 as greedy', async () => {
    const res = await completions({ model: '', messages: st.named, top_p: 0, temperature: 1.3 });
    expect(res.status).toBe(200);
    const b = received();
    expect(b.model).toBe(def);
    expect(sampler(b, 'temperature')).toBe(0);
    expect(sampler(b, 'top_p')).toBeUndefined();
  });

  it('says when history was cut: a header counts the messages left out, usage counts what was sent', async () => {
    const chat = st.longChat();
    expect(chat).toHaveLength(125);
    const res = await completions({ messages: chat });
    expect(res.status).toBe(200);
    const dropped = Number(res.headers.get('x-dropped-messages'));
    expect(dropped).toBeGreaterThan(0);
    const { messages } = received();
    // The system prompt and the last user turn are always kept; the rest is the newest history.
    expect(messages[0]).toEqual({ role: 'system', content: chat[0]!.content });
    expect(messages.at(-1)).toEqual(chat.at(-1));
    // Sent: the system prompt, what was kept of the 124 turns, nothing invented.
    expect(messages.length).toBe(125 - dropped);
    expect(res.body.usage!.prompt_tokens).toBe(countSimTokens(messages));

    // Streaming says it the same way, before the first token.
    const raw = await fetch(`${stack.apiUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: def, ...st.PRESET, messages: chat, stream: true }),
    });
    expect(raw.status).toBe(200);
    expect(Number(raw.headers.get('x-dropped-messages'))).toBe(dropped);
    expect(await raw.text()).toContain('[DONE]');
  });

  it('passes response_format to the structured output of the backend', async () => {
    const res = await completions({ messages: st.named, response_format: { type: 'json_object' } });
    expect(res.body.error).toBeUndefined();
    expect(res.status).toBe(200);
    if (kind === 'vllm') expect(received()['response_format']).toEqual({ type: 'json_object' });
    else expect(received()['format']).toBe('json');
    expect(JSON.parse(res.body.choices[0]!.message.content!)).toBeTypeOf('object');

    const schema = { type: 'object', properties: { mood: { type: 'string' }, calm: { type: 'boolean' } } };
    const typed = await completions({
      messages: st.named,
      response_format: { type: 'json_schema', json_schema: { name: 'mood', schema } },
    });
    expect(typed.status).toBe(200);
    if (kind === 'ollama') expect(received()['format']).toEqual(schema);
    expect(Object.keys(JSON.parse(typed.body.choices[0]!.message.content!))).toEqual(['mood', 'calm']);
  });

  it('passes tools on and maps the tool call back', async () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'roll_dice',
          parameters: { type: 'object', properties: { query: { type: 'string' } } },
        },
      },
    ];
    const tool_choice = kind === 'vllm' ? { type: 'function', function: { name: 'roll_dice' } } : 'auto';
    const res = await completions({ messages: st.named, tools, tool_choice });
    expect(res.status).toBe(200);
    expect(received()['tools']).toEqual(tools);
    const choice = res.body.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.tool_calls).toEqual([
      {
        id: expect.any(String),
        type: 'function',
        // The simulated model calls the tool with the last user message as it received it.
        function: {
          name: 'roll_dice',
          arguments: JSON.stringify({ query: received().messages.at(-1)!.content }),
        },
      },
    ]);
    if (kind === 'ollama') {
      // Ollama has no tool_choice: anything but auto and none is refused, naming it.
      const refused = await completions({ messages: st.named, tools, tool_choice: 'required' });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({ param: 'tool_choice' });
    }
  });

  it('lists only the allowed model, and refuses another one before the backend sees it', async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => m.id.replace(/:latest$/, ''))).toEqual([def]);
    const before = chatRequests().length;
    const res = await completions({ model: 'other-model', messages: st.named });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ param: 'model' });
    expect(res.body.error!.message).toContain('other-model');
    expect(chatRequests().length).toBe(before);
  });
});
