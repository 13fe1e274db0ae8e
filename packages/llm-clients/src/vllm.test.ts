import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLlmClient, type LlmClient } from './index.js';
import { rejection } from './testing/rejection.js';
import {
  CT,
  fixture,
  replay,
  startTestServer,
  type TestServer,
  userMessages,
} from './testing/replay-server.js';

const MODEL = 'unsloth/gemma-3-27b-it-bnb-4bit';
const REPLY = '안녕하세요! Nice to meet you.';
const req = { model: MODEL, messages: userMessages, maxTokens: 512, temperature: 0.7 };

let server: TestServer;
let client: LlmClient;
/** Which fixture the next /v1/chat/completions answers with. */
let streamFixture = 'vllm_chat_stream.sse';

beforeAll(async () => {
  server = await startTestServer(async (r, res) => {
    if (r.path === '/v1/chat/completions') {
      const body = JSON.parse(r.body) as { stream?: boolean };
      if (body.stream) return replay(res, 200, CT.sse, fixture(streamFixture), { slow: true });
      return replay(res, 200, CT.json, fixture('vllm_chat.json'), { slow: true });
    }
    if (r.path === '/v1/models') return replay(res, 200, CT.json, fixture('vllm_models.json'));
    if (r.path === '/tokenize') return replay(res, 200, CT.json, fixture('vllm_tokenize.json'));
    if (r.path === '/health') return replay(res, 200, CT.json, '');
    return replay(res, 404, CT.json, '{"detail":"Not Found"}');
  });
  client = createLlmClient({ service: 'vllm', baseUrl: `${server.url}/v1/`, timeoutMs: 5000, apiKey: 'k' });
});
afterAll(async () => {
  await client.close();
  await server.close();
});

describe('vLLM fixture replay (bytes split inside UTF-8 characters)', () => {
  it('non-streaming chat', async () => {
    const result = await client.chat(req);
    expect(result).toEqual({
      content: REPLY,
      finishReason: 'stop',
      usage: { promptTokens: 33, completionTokens: 8, totalTokens: 41 },
      model: MODEL,
    });
  });

  it('streaming chat: deltas add up to the content, usage from the choices:[] chunk', async () => {
    streamFixture = 'vllm_chat_stream.sse';
    const deltas: string[] = [];
    const result = await client.chatStream(req, { onToken: (d) => deltas.push(d) });
    expect(result).toEqual({
      content: REPLY,
      finishReason: 'stop',
      usage: { promptTokens: 33, completionTokens: 8, totalTokens: 41 },
      model: MODEL,
    });
    expect(deltas.join('')).toBe(REPLY);
    expect(deltas).toEqual(['안녕하세요', '!', ' Nice', ' to', ' meet', ' you', '.']);
  });

  it.each([
    ['vllm_stream_error.sse', 'Internal server error'],
    ['vllm_stream_error_legacy.sse', 'EngineCore encountered an issue'],
  ])('%s: mid-stream error event is a retryable backend_stream_error', async (name, message) => {
    streamFixture = name;
    const deltas: string[] = [];
    const err = await rejection(client.chatStream(req, { onToken: (d) => deltas.push(d) }));
    expect(err.code).toBe('backend_stream_error');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain(message);
    expect(deltas.join('')).toBe('안녕하세요! Nice');
  });

  it('listModels maps cards to id + details', async () => {
    const models = await client.listModels();
    expect(models).toHaveLength(1);
    expect(models[0]?.id).toBe(MODEL);
    expect(models[0]?.details).toMatchObject({ owned_by: 'vllm', max_model_len: 4096, root: MODEL });
  });

  it('countTokens posts {model, messages} to /tokenize and returns count', async () => {
    expect(await client.countTokens(MODEL, [{ role: 'user', content: 'Hello' }])).toBe(10);
    const sent = server.requests.filter((r) => r.path === '/tokenize').at(-1);
    expect(JSON.parse(sent?.body ?? '')).toEqual({
      model: MODEL,
      messages: [{ role: 'user', content: 'Hello' }],
    });
  });

  it('health resolves on 200 with an empty body', async () => {
    await expect(client.health()).resolves.toBeUndefined();
  });

  it('request shape: stream_options only with stream:true; undefined fields omitted; bearer key', async () => {
    const bodies = server.requests
      .filter((r) => r.path === '/v1/chat/completions')
      .map((r) => JSON.parse(r.body) as Record<string, unknown>);
    const plain = bodies.find((b) => b['stream'] === false);
    const streamed = bodies.find((b) => b['stream'] === true);
    expect(plain).toEqual({
      model: MODEL,
      messages: userMessages,
      max_tokens: 512,
      temperature: 0.7,
      stream: false,
    });
    expect(plain).not.toHaveProperty('stream_options');
    expect(streamed).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 512,
    });
    expect(streamed).not.toHaveProperty('top_p');
    const any = server.requests[0];
    expect(any?.headers['authorization']).toBe('Bearer k');
    expect(server.requests.every((r) => !r.path.startsWith('/v1/v1'))).toBe(true);
  });

  it('sends top_p, stop and seed when given', async () => {
    await client.chat({ ...req, topP: 0.9, stop: ['\n\n'], seed: 7 });
    const last = JSON.parse(server.requests.at(-1)?.body ?? '') as Record<string, unknown>;
    expect(last).toMatchObject({ top_p: 0.9, stop: ['\n\n'], seed: 7, stream: false });
  });
});

describe('vLLM 4xx bodies', () => {
  it.each([['vllm_error_context_length.json'], ['vllm_error_context_length_legacy.json']])(
    '%s -> context_too_long',
    async (name) => {
      const s = await startTestServer((_r, res) => replay(res, 400, CT.json, fixture(name)));
      const c = createLlmClient({ service: 'vllm', baseUrl: s.url, timeoutMs: 2000 });
      try {
        for (const call of [c.chat(req), c.chatStream(req, { onToken: () => {} })]) {
          const err = await rejection(call);
          expect(err.code).toBe('context_too_long');
          expect(err.retryable).toBe(false);
          expect(err.message).toContain('maximum context length is 4096 tokens');
          expect(err.details).toEqual({ status: 400, backend: 'vllm', type: 'BadRequestError' });
        }
      } finally {
        await c.close();
        await s.close();
      }
    },
  );

  it('countTokens is null when /tokenize is missing', async () => {
    const s = await startTestServer((_r, res) => replay(res, 404, CT.json, '{"detail":"Not Found"}'));
    const c = createLlmClient({ service: 'vllm', baseUrl: s.url, timeoutMs: 2000 });
    expect(await c.countTokens(MODEL, userMessages)).toBeNull();
    await c.close();
    await s.close();
  });
});
