import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { simReply } from './reply.js';
import { startBackendSim } from './server.js';
import { fixtureText, HELLO, keyTree, ndjson, postJson, until } from './test-helpers.js';
import { countSimTokens } from './tokenizer.js';
import type { BackendSim } from './types.js';

const MODEL = 'gemma-3-27b-it';
let sim: BackendSim;
let chat: string;

beforeAll(async () => {
  sim = await startBackendSim({ kind: 'ollama' });
  chat = `${sim.url}/api/chat`;
});
afterAll(() => sim.close());
beforeEach(() => {
  sim.configure({ capacity: 1, maxQueue: 512, ttftMs: 0 });
  sim.resetStats();
});

type Json = Record<string, unknown>;
const DURATIONS = ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration'];
/** The fixture's final object plus done_reason, which real servers put before done. */
const FINAL_KEYS = [
  'model',
  'created_at',
  'message',
  'done_reason',
  'done',
  'total_duration',
  'load_duration',
  'prompt_eval_count',
  'prompt_eval_duration',
  'eval_count',
  'eval_duration',
];

describe('Ollama /api/chat', () => {
  it('streams NDJSON by default, shaped like ollama_chat_stream.ndjson', async () => {
    const res = await postJson(chat, { model: MODEL, messages: HELLO });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = ndjson(await res.text());
    const fix = ndjson(fixtureText('ollama_chat_stream.ndjson'));
    const reply = simReply(HELLO, Number.POSITIVE_INFINITY);
    expect(lines).toHaveLength(reply.pieces.length + 1);
    for (const l of lines.slice(0, -1)) {
      expect(Object.keys(l)).toEqual(Object.keys(fix[0]!));
      expect(Object.keys(l['message'] as Json)).toEqual(['role', 'content']);
      expect(l['created_at']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    }
    const last = lines.at(-1)!;
    expect(Object.keys(last)).toEqual(FINAL_KEYS);
    expect(Object.keys(last).filter((k) => k !== 'done_reason')).toEqual(Object.keys(fix[1]!));
    expect(last).toMatchObject({
      model: MODEL,
      done: true,
      done_reason: 'stop',
      message: { role: 'assistant', content: '' },
    });
    expect(last['prompt_eval_count']).toBe(countSimTokens(HELLO));
    expect(last['eval_count']).toBe(reply.pieces.length);
    for (const k of DURATIONS) expect(Number.isInteger(last[k])).toBe(true);
    const text = lines.map((l) => (l['message'] as Json)['content']).join('');
    expect(text).toBe(reply.pieces.join(''));
  });

  it('stream:false returns the final object with the whole content (ollama_chat.json keys)', async () => {
    const res = await postJson(chat, {
      model: `${MODEL}:latest`,
      messages: HELLO,
      stream: false,
      options: { num_predict: 4 },
    });
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = (await res.json()) as Json;
    const fixture = JSON.parse(fixtureText('ollama_chat.json')) as Json;
    expect(Object.keys(body).filter((k) => k !== 'done_reason')).toEqual(Object.keys(fixture));
    expect(body).toMatchObject({
      model: `${MODEL}:latest`,
      done_reason: 'length',
      eval_count: 4,
      message: { role: 'assistant', content: simReply(HELLO, 4).pieces.join('') },
    });
  });

  it('num_ctx defaults to 2048 and silently drops the oldest messages', async () => {
    const long = 'x'.repeat(4 * 300); // 300 tokens each
    const messages = [{ role: 'system', content: 'sys' }];
    for (let i = 0; i < 10; i++)
      messages.push({ role: i % 2 ? 'assistant' : 'user', content: `${i} ${long}` });
    messages.push({ role: 'user', content: 'last question' });
    const full = countSimTokens(messages);
    expect(full).toBeGreaterThan(2048);
    const body = (await (await postJson(chat, { model: MODEL, messages, stream: false })).json()) as Json;
    expect(body['prompt_eval_count']).toBeLessThanOrEqual(2048);
    expect(body['prompt_eval_count']).toBeLessThan(full);
    expect(sim.requests().at(-1)?.truncatedByNumCtx).toBe(true);
    // With num_ctx large enough nothing is dropped.
    const ok = (await (
      await postJson(chat, { model: MODEL, messages, stream: false, options: { num_ctx: 8192 } })
    ).json()) as Json;
    expect(ok['prompt_eval_count']).toBe(full);
    expect(sim.requests().at(-1)?.truncatedByNumCtx).toBeUndefined();
  });

  it('no messages: the model is loaded and done', async () => {
    const body = (await (await postJson(chat, { model: MODEL })).json()) as Json;
    expect(body).toMatchObject({ done: true, done_reason: 'load', message: { content: '' } });
  });

  it('errors: unknown model 404, bad JSON 400, missing model 400', async () => {
    const nf = await postJson(chat, { model: 'llama9', messages: HELLO });
    expect(nf.status).toBe(404);
    expect(await nf.text()).toBe('{"error":"model \\"llama9\\" not found, try pulling it first"}');
    const bad = await postJson(chat, 'xyz');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json)['error']).toBe(
      "invalid character 'x' looking for beginning of value",
    );
    const none = await postJson(chat, { messages: HELLO });
    expect(none.status).toBe(400);
    expect(await none.json()).toEqual({ error: 'model is required' });
  });

  it('503 beyond OLLAMA_MAX_QUEUE with the exact text', async () => {
    // Paused, the first request holds the slot until all five have arrived, however slow this machine is.
    sim.configure({ capacity: 1, maxQueue: 2, ttftMs: 100, paused: true });
    const all = Array.from({ length: 5 }, () =>
      postJson(chat, { model: MODEL, messages: HELLO, stream: false }),
    );
    await until(() => sim.stats().waiting === 2 && sim.stats().rejected === 2, 20_000);
    sim.configure({ paused: false });
    const res = await Promise.all(all);
    expect(res.map((r) => r.status).sort()).toEqual([200, 200, 200, 503, 503]);
    const busy = res.find((r) => r.status === 503)!;
    expect(await busy.text()).toBe(
      '{"error":"server busy, please try again.  maximum pending requests exceeded"}',
    );
    expect(sim.stats()).toMatchObject({ rejected: 2, completed: 3, maxGenerating: 1 });
    expect(sim.stats().maxInFlight).toBeGreaterThanOrEqual(3); // 1 generating + 2 waiting, at least
  });

  it('waits FIFO at OLLAMA_NUM_PARALLEL=1 and sends headers only when generating', async () => {
    sim.configure({ ttftMs: 60 });
    const t0 = Date.now();
    const before = sim.stats().requests;
    const a = postJson(chat, { model: MODEL, messages: HELLO });
    // b is sent once the server has a, so that a is first in line.
    await until(() => sim.stats().requests > before);
    const b = postJson(chat, { model: MODEL, messages: [{ role: 'user', content: 'second' }] });
    const [ra, rb] = await Promise.all([a, b]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(110); // b's headers waited for a's slot
    await Promise.all([ra.text(), rb.text()]);
    expect(sim.stats().maxGenerating).toBe(1);
  });

  it('tags, version, ps and Go-style 404', async () => {
    const tags = (await (await fetch(`${sim.url}/api/tags`)).json()) as { models: Json[] };
    const fixture = JSON.parse(fixtureText('ollama_tags.json')) as Json;
    expect(keyTree(tags)).toEqual(keyTree(fixture));
    expect(tags.models[0]).toMatchObject({ name: `${MODEL}:latest`, model: `${MODEL}:latest` });
    expect(await (await fetch(`${sim.url}/api/version`)).json()).toEqual({ version: '0.12.0' });
    const ps = (await (await fetch(`${sim.url}/api/ps`)).json()) as { models: Json[] };
    expect(ps.models[0]).toMatchObject({ name: `${MODEL}:latest` });
    const nf = await fetch(`${sim.url}/api/nothing`);
    expect(nf.status).toBe(404);
    expect(nf.headers.get('content-type')).toBe('text/plain');
    expect(await nf.text()).toBe('404 page not found');
    expect(await (await fetch(sim.url)).text()).toBe('Ollama is running');
  });
});
