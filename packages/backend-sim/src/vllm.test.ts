import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { simReply } from './reply.js';
import { startBackendSim } from './server.js';
import { fixtureText, HELLO, keyTree, postJson, sseEvents } from './test-helpers.js';
import { countSimTokens } from './tokenizer.js';
import type { BackendSim } from './types.js';

const MODEL = 'unsloth/gemma-3-27b-it-bnb-4bit';
let sim: BackendSim;
let chat: string;

beforeAll(async () => {
  sim = await startBackendSim({ kind: 'vllm' });
  chat = `${sim.url}/v1/chat/completions`;
});
afterAll(() => sim.close());
beforeEach(() => sim.resetStats());

type Json = Record<string, unknown>;
const errorOf = async (res: Response) => ((await res.json()) as { error: Json }).error;

describe('vLLM chat completions', () => {
  it('non-streaming body has every field of vllm_chat.json, in order', async () => {
    const res = await postJson(chat, { model: MODEL, messages: HELLO, max_tokens: 512 });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const text = await res.text();
    const body = JSON.parse(text) as Json;
    const fixture = JSON.parse(fixtureText('vllm_chat.json')) as Json;
    expect(keyTree(body)).toEqual(keyTree(fixture));
    expect(text).not.toContain('\n'); // compact, like Starlette's JSONResponse
    expect(body['id']).toMatch(/^chatcmpl-[0-9a-f]{16}$/);
    expect(Math.abs((body['created'] as number) - Date.now() / 1000)).toBeLessThan(5);
    const reply = simReply(HELLO, 512);
    const choice = (body['choices'] as Json[])[0]!;
    expect((choice['message'] as Json)['content']).toBe(reply.pieces.join(''));
    expect(choice['finish_reason']).toBe('stop');
    expect(choice['stop_reason']).toBe(106);
    const prompt = countSimTokens(HELLO);
    expect(body['usage']).toEqual({
      prompt_tokens: prompt,
      total_tokens: prompt + reply.pieces.length + 1,
      completion_tokens: reply.pieces.length + 1,
      prompt_tokens_details: null,
    });
    expect(sim.requests().at(-1)).toMatchObject({
      path: '/v1/chat/completions',
      reply: reply.pieces.join(''),
    });
  });

  it('stream chunks have the fixture shapes and reassemble to simReply', async () => {
    const res = await postJson(chat, {
      messages: HELLO,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const events = sseEvents(await res.text());
    const fix = sseEvents(fixtureText('vllm_chat_stream.sse'));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as Json);
    const fixChunks = fix.slice(0, -1).map((e) => JSON.parse(e) as Json);
    expect(keyTree(chunks[0])).toEqual(keyTree(fixChunks[0])); // role chunk
    expect(chunks[0]).toMatchObject({
      model: MODEL,
      choices: [{ delta: { role: 'assistant', content: '' } }],
    });
    for (const c of chunks.slice(1, -2)) expect(keyTree(c)).toEqual(keyTree(fixChunks[1]));
    expect(keyTree(chunks.at(-2))).toEqual(keyTree(fixChunks.at(-2))); // finish chunk
    expect(keyTree(chunks.at(-1))).toEqual(keyTree(fixChunks.at(-1))); // usage chunk
    const reply = simReply(HELLO, 4096);
    const text = chunks
      .map((c) => ((c['choices'] as Json[])[0]?.['delta'] as Json | undefined)?.['content'] ?? '')
      .join('');
    expect(text).toBe(reply.pieces.join(''));
    expect(chunks.length).toBe(reply.pieces.length + 3);
    expect((chunks.at(-2)!['choices'] as Json[])[0]).toMatchObject({
      finish_reason: 'stop',
      stop_reason: 106,
    });
    expect(chunks.at(-1)!['usage']).toEqual({
      prompt_tokens: countSimTokens(HELLO),
      total_tokens: countSimTokens(HELLO) + reply.pieces.length + 1,
      completion_tokens: reply.pieces.length + 1,
    });
    expect(new Set(chunks.map((c) => c['id'])).size).toBe(1);
  });

  it('length: the last piece rides on the finish chunk; no usage without include_usage', async () => {
    const res = await postJson(chat, { messages: HELLO, stream: true, max_tokens: 3 });
    const chunks = sseEvents(await res.text())
      .slice(0, -1)
      .map((e) => JSON.parse(e) as Json);
    const reply = simReply(HELLO, 3);
    expect(chunks).toHaveLength(1 + 2 + 1);
    const fin = chunks.at(-1)!;
    expect((fin['choices'] as Json[])[0]).toMatchObject({
      delta: { content: reply.pieces[2] },
      finish_reason: 'length',
      stop_reason: null,
    });
    expect(fin['system_fingerprint']).toMatch(/^vllm-/);
    expect(chunks.some((c) => 'usage' in c)).toBe(false);
  });

  it('uses X-Request-Id in the completion id', async () => {
    const res = await postJson(
      chat,
      { messages: HELLO },
      { headers: { 'content-type': 'application/json', 'x-request-id': 'abc' } },
    );
    expect(((await res.json()) as Json)['id']).toBe('chatcmpl-abc');
  });
});

describe('vLLM errors', () => {
  it('unknown model is 404 NotFoundError', async () => {
    const res = await postJson(chat, { model: 'nope', messages: HELLO });
    expect(res.status).toBe(404);
    expect(await res.text()).toBe(
      '{"error":{"message":"The model `nope` does not exist.","type":"NotFoundError","param":"model","code":404}}',
    );
  });

  it('roles must alternate (Gemma template)', async () => {
    for (const messages of [
      [...HELLO, { role: 'user', content: 'again' }],
      [{ role: 'assistant', content: 'hi' }],
      [HELLO[0], HELLO[0], HELLO[1]],
      [HELLO[1], { role: 'system', content: 'late' }],
    ]) {
      const res = await postJson(chat, { messages, stream: true });
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toEqual({
        message: 'Conversation roles must alternate user/assistant/user/assistant/...',
        type: 'BadRequestError',
        param: null,
        code: 400,
      });
    }
  });

  it('context length: 400 in the shape of vllm_error_context_length.json', async () => {
    sim.configure({ maxModelLen: 48 });
    try {
      const res = await postJson(chat, { messages: HELLO, max_tokens: 40 });
      expect(res.status).toBe(400);
      const body = (await res.json()) as Json;
      expect(keyTree(body)).toEqual(keyTree(JSON.parse(fixtureText('vllm_error_context_length.json'))));
      const p = countSimTokens(HELLO);
      expect((body['error'] as Json)['message']).toBe(
        `This model's maximum context length is 48 tokens. However, you requested 40 output tokens and your prompt ` +
          `contains ${p} input tokens, for a total of ${p + 40} tokens. Please reduce the length of the input prompt ` +
          `or the number of requested output tokens. (parameter=input_tokens, value=${p})`,
      );
      expect(body['error']).toMatchObject({ type: 'BadRequestError', param: 'input_tokens', code: 400 });
      // max_completion_tokens wins over max_tokens; without either, the budget is what is left.
      expect(
        (await postJson(chat, { messages: HELLO, max_tokens: 1000, max_completion_tokens: 2 })).status,
      ).toBe(200);
      const ok = (await (await postJson(chat, { messages: HELLO })).json()) as { usage: Json };
      expect(ok.usage['completion_tokens']).toBe(48 - p); // cut by 'length': no <end_of_turn>
    } finally {
      sim.configure({ maxModelLen: 4096 });
    }
  });

  it('validation errors: stream_options without stream, missing messages, content type, bad JSON', async () => {
    const so = await postJson(chat, { messages: HELLO, stream_options: { include_usage: true } });
    expect(so.status).toBe(400);
    expect(await errorOf(so)).toMatchObject({ type: 'Bad Request', param: 'stream_options', code: 400 });
    const missing = await postJson(chat, { model: MODEL });
    expect(missing.status).toBe(400);
    const e = await errorOf(missing);
    expect(e).toMatchObject({ type: 'Bad Request', param: 'body.messages', code: 400 });
    expect(e['message']).toMatch(/^1 validation error:/);
    const ct = await fetch(chat, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ messages: HELLO }),
    });
    expect(ct.status).toBe(400);
    expect(await errorOf(ct)).toMatchObject({ type: 'Bad Request', param: null });
    expect((await postJson(chat, '{"messages": [')).status).toBe(400);
    expect(sim.stats().rejected).toBe(4);
  });

  it('unknown route 404 and wrong method 405 in FastAPI form', async () => {
    const nf = await fetch(`${sim.url}/v1/nothing`);
    expect(nf.status).toBe(404);
    expect(await nf.text()).toBe('{"detail":"Not Found"}');
    const na = await fetch(chat);
    expect(na.status).toBe(405);
    expect(await na.text()).toBe('{"detail":"Method Not Allowed"}');
  });
});

describe('vLLM other endpoints', () => {
  it('GET /v1/models has the vllm_models.json shape', async () => {
    sim.configure({ maxModelLen: 8192 });
    const body = (await (await fetch(`${sim.url}/v1/models`)).json()) as { data: Json[] };
    sim.configure({ maxModelLen: 4096 });
    expect(keyTree(body)).toEqual(keyTree(JSON.parse(fixtureText('vllm_models.json'))));
    expect(body.data[0]).toMatchObject({ id: MODEL, root: MODEL, max_model_len: 8192, owned_by: 'vllm' });
  });

  it('/health, /version, /tokenize', async () => {
    const h = await fetch(`${sim.url}/health`);
    expect(h.status).toBe(200);
    expect(await h.text()).toBe('');
    expect(await (await fetch(`${sim.url}/version`)).json()).toEqual({ version: '0.28.0' });
    const messages = [{ role: 'user', content: 'Hello' }];
    const t = (await (await postJson(`${sim.url}/tokenize`, { model: MODEL, messages })).json()) as Json;
    expect(keyTree(t)).toEqual(keyTree(JSON.parse(fixtureText('vllm_tokenize.json'))));
    expect(t['count']).toBe(countSimTokens(messages));
    expect(t['tokens']).toHaveLength(t['count'] as number);
    expect(t['max_model_len']).toBe(4096);
    const p = (await (await postJson(`${sim.url}/tokenize`, { prompt: 'Hello world' })).json()) as Json;
    expect(p['count']).toBe(5); // <bos> + Hello(2) + world(2)
  });

  it('control endpoints report stats and recorded requests', async () => {
    await postJson(chat, { messages: HELLO });
    const stats = (await (await fetch(`${sim.url}/sim/stats`)).json()) as Json;
    expect(stats).toMatchObject({ requests: 1, completed: 1, inFlight: 0, maxInFlight: 1 });
    const recs = (await (await fetch(`${sim.url}/sim/requests`)).json()) as Json[];
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ path: '/v1/chat/completions', body: { messages: HELLO }, status: 200 });
    const cfg = await postJson(`${sim.url}/sim/config`, { replyTokens: 2, faults: { errorRate: 0 } });
    expect(cfg.status).toBe(200);
    const r = (await (await postJson(chat, { messages: HELLO })).json()) as { usage: Json };
    expect(r.usage['completion_tokens']).toBe(3);
    expect((await postJson(`${sim.url}/sim/config`, { capacity: 0 })).status).toBe(400);
    await postJson(`${sim.url}/sim/config`, { replyTokens: 24 });
    await postJson(`${sim.url}/sim/reset`, {});
    expect(sim.stats().requests).toBe(0);
    expect(sim.requests()).toHaveLength(0);
  });
});
