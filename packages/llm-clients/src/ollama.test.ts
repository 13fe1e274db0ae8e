import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLlmClient, type LlmClient, OllamaStreamState } from './index.js';
import { rejection } from './testing/rejection.js';
import {
  CT,
  fixture,
  replay,
  startTestServer,
  type TestServer,
  userMessages,
} from './testing/replay-server.js';

const req = { model: 'llama3.2', messages: userMessages, maxTokens: 256, temperature: 0.8 };

let server: TestServer;
let client: LlmClient;
let streamFixture = 'ollama_chat_stream.ndjson';

beforeAll(async () => {
  server = await startTestServer(async (r, res) => {
    if (r.path === '/api/chat') {
      const body = JSON.parse(r.body) as { stream?: boolean };
      if (body.stream) return replay(res, 200, CT.ndjson, fixture(streamFixture), { slow: true });
      return replay(res, 200, 'application/json; charset=utf-8', fixture('ollama_chat.json'), { slow: true });
    }
    if (r.path === '/api/tags') return replay(res, 200, CT.json, fixture('ollama_tags.json'));
    if (r.path === '/api/version') return replay(res, 200, CT.json, '{"version":"0.12.6"}');
    return replay(res, 404, 'text/plain', '404 page not found');
  });
  client = createLlmClient({ service: 'ollama', baseUrl: server.url, timeoutMs: 5000, contextTokens: 8192 });
});
afterAll(async () => {
  await client.close();
  await server.close();
});

describe('Ollama fixture replay', () => {
  it('non-streaming chat maps counts and defaults done_reason to stop', async () => {
    expect(await client.chat(req)).toEqual({
      content: 'Hello! How are you today?',
      finishReason: 'stop',
      usage: { promptTokens: 26, completionTokens: 298, totalTokens: 324 },
      model: 'llama3.2',
    });
  });

  it('streaming chat', async () => {
    streamFixture = 'ollama_chat_stream.ndjson';
    const deltas: string[] = [];
    const result = await client.chatStream(req, { onToken: (d) => deltas.push(d) });
    expect(result).toEqual({
      content: 'The',
      finishReason: 'stop',
      usage: { promptTokens: 26, completionTokens: 282, totalTokens: 308 },
      model: 'llama3.2',
    });
    expect(deltas.join('')).toBe(result.content);
  });

  it('Korean NDJSON split inside characters, done_reason length, missing eval_count', async () => {
    const lines = [
      { model: 'gemma3', message: { role: 'assistant', content: '안녕하세요' }, done: false },
      { model: 'gemma3', message: { role: 'assistant', content: '! Nice to meet you.' }, done: false },
      {
        model: 'gemma3',
        message: { role: 'assistant', content: '' },
        done: true,
        done_reason: 'length',
        prompt_eval_count: 12,
      },
    ];
    const s = await startTestServer((_r, res) =>
      replay(res, 200, CT.ndjson, lines.map((l) => `${JSON.stringify(l)}\n`).join(''), { slow: true }),
    );
    const c = createLlmClient({ service: 'ollama', baseUrl: s.url, timeoutMs: 5000 });
    const deltas: string[] = [];
    const result = await c.chatStream(req, { onToken: (d) => deltas.push(d) });
    expect(result).toEqual({
      content: '안녕하세요! Nice to meet you.',
      finishReason: 'length',
      usage: { promptTokens: 12, completionTokens: 0, totalTokens: 12 },
      model: 'gemma3',
    });
    expect(deltas.join('')).toBe(result.content);
    expect(JSON.parse(s.requests[0]?.body ?? '').options.num_ctx).toBe(4096);
    await c.close();
    await s.close();
  });

  it('mid-stream {"error"} line (generate-shaped stream) -> backend_stream_error', async () => {
    streamFixture = 'ollama_stream_error.ndjson';
    const err = await rejection(client.chatStream(req, { onToken: () => {} }));
    expect(err.code).toBe('backend_stream_error');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('an error was encountered while running the model');
  });

  it('stream that ends without done:true -> backend_stream_error', async () => {
    streamFixture = 'ollama_chat_stream.ndjson';
    const s = await startTestServer((_r, res) =>
      replay(res, 200, CT.ndjson, fixture('ollama_chat_stream.ndjson').toString().split('\n')[0] ?? ''),
    );
    const c = createLlmClient({ service: 'ollama', baseUrl: s.url, timeoutMs: 5000 });
    const err = await rejection(c.chatStream(req, { onToken: () => {} }));
    expect(err.code).toBe('backend_stream_error');
    expect(err.retryable).toBe(true);
    await c.close();
    await s.close();
  });

  it('listModels: id = name, details = tag details + size/digest/modified_at', async () => {
    const models = await client.listModels();
    expect(models.map((m) => m.id)).toEqual(['deepseek-r1:latest', 'llama3.2:latest']);
    expect(models[1]?.details).toEqual({
      parent_model: '',
      format: 'gguf',
      family: 'llama',
      families: ['llama'],
      parameter_size: '3.2B',
      quantization_level: 'Q4_K_M',
      size: 2019393189,
      digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72',
      modified_at: '2025-05-04T17:37:44.706015396-07:00',
    });
  });

  it('health uses /api/version; countTokens is null without a request', async () => {
    const before = server.requests.length;
    await expect(client.health()).resolves.toBeUndefined();
    expect(await client.countTokens('llama3.2', userMessages)).toBeNull();
    expect(server.requests.slice(before).map((r) => r.path)).toEqual(['/api/version']);
  });

  it('request shape: stream always explicit, options carry num_predict and num_ctx', async () => {
    await client.chat({ ...req, numCtx: 2048, topP: 0.5, stop: ['<end>'], seed: 3 });
    const bodies = server.requests
      .filter((r) => r.path === '/api/chat')
      .map((r) => JSON.parse(r.body) as Record<string, unknown>);
    for (const b of bodies) {
      expect(typeof b['stream']).toBe('boolean');
      expect(b['options']).toMatchObject({ num_predict: 256, num_ctx: expect.any(Number) });
    }
    expect(bodies.some((b) => b['stream'] === true)).toBe(true);
    expect(bodies[0]).toEqual({
      model: 'llama3.2',
      messages: userMessages,
      stream: false,
      options: { num_predict: 256, temperature: 0.8, num_ctx: 8192 },
    });
    expect(bodies.at(-1)?.['options']).toEqual({
      num_predict: 256,
      temperature: 0.8,
      top_p: 0.5,
      stop: ['<end>'],
      seed: 3,
      num_ctx: 2048,
    });
  });
});

describe('OllamaStreamState', () => {
  it('ignores blank lines and anything after done:true', () => {
    const deltas: string[] = [];
    const s = new OllamaStreamState('m', (d) => deltas.push(d));
    s.handle('');
    s.handle('{"message":{"role":"assistant","content":"a"},"done":false}');
    s.handle('{"message":{"role":"assistant","content":"b"},"done":true,"eval_count":2}');
    s.handle('{"message":{"content":"late"},"done":false}');
    expect(s.result()).toMatchObject({
      content: 'ab',
      model: 'm',
      usage: { completionTokens: 2, totalTokens: 2 },
    });
    expect(deltas).toEqual(['a', 'b']);
  });
});
