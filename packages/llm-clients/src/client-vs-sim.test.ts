import { type BackendSim, simReply, startBackendSim } from '@gateway/backend-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChatMessage, createLlmClient, type LlmClient } from './index.js';
import { rejection } from './testing/rejection.js';

const MODELS = { vllm: 'unsloth/gemma-3-27b-it-bnb-4bit', ollama: 'gemma-3-27b-it' } as const;

const messages: ChatMessage[] = [
  { role: 'system', content: '너는 친절한 대화 상대야. 짧게 답해.' },
  { role: 'user', content: '안녕! 만나서 반가워.' },
];

describe.each(['vllm', 'ollama'] as const)('%s client against backend-sim', (kind) => {
  let sim: BackendSim;
  let client: LlmClient;
  const model = MODELS[kind];

  beforeAll(async () => {
    sim = await startBackendSim({ kind, ttftMs: 5, tokenDelayMs: 1 });
    client = createLlmClient({ service: kind, baseUrl: sim.url, timeoutMs: 5000, idleTimeoutMs: 2000 });
  });
  afterAll(async () => {
    await client.close();
    await sim.close();
  });

  it('streams the reply simReply predicts; deltas add up to it', async () => {
    const expected = simReply(messages, 64);
    const deltas: string[] = [];
    const result = await client.chatStream(
      { model, messages, maxTokens: 64 },
      { onToken: (d) => deltas.push(d) },
    );
    expect(result.content).toBe(expected.pieces.join(''));
    expect(deltas.join('')).toBe(result.content);
    expect(result.finishReason).toBe(expected.finishReason);
    expect(result.usage.completionTokens).toBeGreaterThan(0);
    expect(result.usage.totalTokens).toBe(result.usage.promptTokens + result.usage.completionTokens);
  });

  it('non-streaming reply equals simReply, and max_tokens cuts it with finishReason length', async () => {
    const full = await client.chat({ model, messages, maxTokens: 64 });
    expect(full.content).toBe(simReply(messages, 64).pieces.join(''));
    const cut = await client.chat({ model, messages, maxTokens: 5 });
    const expected = simReply(messages, 5);
    expect(cut.content).toBe(expected.pieces.join(''));
    expect(cut.finishReason).toBe('length');
    expect(expected.finishReason).toBe('length');
  });

  it('listModels, health and countTokens', async () => {
    const models = await client.listModels();
    // Ollama lists tags with their implicit `:latest`.
    expect(models.map((m) => m.id)).toContain(kind === 'ollama' ? `${model}:latest` : model);
    await expect(client.health()).resolves.toBeUndefined();
    const n = await client.countTokens(model, messages);
    if (kind === 'vllm') expect(n).toEqual(expect.any(Number));
    else expect(n).toBeNull();
  });

  it('the sim saw well-formed requests', () => {
    const bodies = sim.requests().map((r) => r.body as Record<string, unknown>);
    expect(bodies.length).toBeGreaterThanOrEqual(3);
    for (const b of bodies) {
      expect(typeof b['stream']).toBe('boolean');
      if (kind === 'ollama')
        expect(b['options']).toMatchObject({ num_ctx: 4096, num_predict: expect.any(Number) });
      if (kind === 'vllm' && b['stream'] === false) expect(b).not.toHaveProperty('stream_options');
    }
  });

  it('unknown model -> model_not_found', async () => {
    const err = await rejection(client.chat({ model: 'no-such-model', messages, maxTokens: 8 }));
    expect(err.code).toBe('model_not_found');
    expect(err.retryable).toBe(false);
  });

  it.each([
    ['streamError', 'backend_stream_error'],
    ['drop', 'backend_stream_error'],
    ['garbage', 'backend_server_error'],
    ['error', 'backend_server_error'],
  ] as const)('injected %s fault -> %s (retryable)', async (fault, code) => {
    const rate = `${fault}Rate` as const;
    sim.configure({ faults: { [rate]: 1 } });
    try {
      const err = await rejection(
        client.chatStream({ model, messages, maxTokens: 64 }, { onToken: () => {} }),
      );
      expect(err.code).toBe(code);
      expect(err.retryable).toBe(true);
    } finally {
      sim.configure({ faults: { [rate]: 0 } });
    }
  });

  it('abort mid-stream: cancelled at once, and the sim counts the request aborted', async () => {
    sim.configure({ tokenDelayMs: 50 });
    const before = sim.stats().aborted;
    const ac = new AbortController();
    const p = client.chatStream(
      { model, messages, maxTokens: 64 },
      { signal: ac.signal, onToken: () => ac.abort() },
    );
    const err = await rejection(p);
    expect(err.code).toBe('cancelled');
    sim.configure({ tokenDelayMs: 1 });
    for (let i = 0; i < 50 && sim.stats().aborted === before; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(sim.stats().aborted).toBe(before + 1);
  });
});
