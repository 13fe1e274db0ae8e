import { DEFAULT_MODELS } from '@gateway/config';
import type { ChatJobAccepted, ChatJobView, ModelsView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, waitFor } from './support/http.js';
import { guestHeaders } from './support/session.js';
import { type Stack, startStack } from './support/stack.js';

type Body = Record<string, unknown> & { options?: Record<string, unknown> };

/** POST /chat/jobs takes the sampler fields too (issue #18, item 4) and the model allowlist (#19). */
describe.each(['vllm', 'ollama'] as const)('sampling on /chat/jobs with %s', (kind) => {
  let stack: Stack;
  let headers: Record<string, string>;
  const def = DEFAULT_MODELS[kind];

  const submit = (body: Record<string, unknown>) =>
    call<ChatJobAccepted & { error?: { details?: { field: string }[]; message: string } }>(
      `${stack.apiUrl}/chat/jobs`,
      { body: { tts: false, ...body }, headers },
    );
  const finished = (id: string) =>
    waitFor(
      () => call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${id}`, { headers }).then((r) => r.body),
      (v) => ['completed', 'failed', 'cancelled'].includes(v.status),
    );

  beforeAll(async () => {
    stack = await startStack({ kind, sim: { replyTokens: 8, models: [def, 'other-model'] } });
    headers = await guestHeaders(stack.apiUrl);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('passes every sampler field to the backend under its own names', async () => {
    const res = await submit({
      message: 'Tell me about the sea.',
      temperature: 0.8,
      top_p: 0.9,
      top_k: 50,
      min_p: 0.02,
      repetition_penalty: 1.15,
      presence_penalty: 0.2,
      frequency_penalty: 0.1,
      stop: ['\nUser:'],
      seed: 11,
    });
    expect(res.status).toBe(202);
    expect((await finished(res.body.job_id)).status).toBe('completed');
    const b = stack.sim.requests().at(-1)!.body as Body;
    const got = (v: string, o = v) => (kind === 'vllm' ? b[v] : b.options?.[o]);
    expect(got('temperature')).toBe(0.8);
    expect(got('top_p')).toBe(0.9);
    expect(got('top_k')).toBe(50);
    expect(got('min_p')).toBe(0.02);
    expect(got('repetition_penalty', 'repeat_penalty')).toBe(1.15);
    expect(got('presence_penalty')).toBe(0.2);
    expect(got('frequency_penalty')).toBe(0.1);
    expect(got('stop')).toEqual(['\nUser:']);
    expect(got('seed')).toBe(11);
  });

  it("takes the sampler fields on a regenerate too, over the first reply's", async () => {
    const first = await submit({ message: 'Tell me about the moon.', top_k: 5, seed: 1 });
    expect((await finished(first.body.job_id)).status).toBe('completed');
    const again = await call<ChatJobAccepted>(
      `${stack.apiUrl}/conversations/${first.body.conversation_id}/regenerate`,
      { body: { top_k: 40, min_p: 0.05, repetition_penalty: 1.1, seed: 7 }, headers },
    );
    expect(again.status).toBe(202);
    expect((await finished(again.body.job_id)).status).toBe('completed');
    const b = stack.sim.requests().at(-1)!.body as Body;
    const got = (v: string, o = v) => (kind === 'vllm' ? b[v] : b.options?.[o]);
    expect(got('top_k')).toBe(40);
    expect(got('min_p')).toBe(0.05);
    expect(got('repetition_penalty', 'repeat_penalty')).toBe(1.1);
    expect(got('seed')).toBe(7);
  });

  it('refuses an out-of-range field, naming it', async () => {
    for (const [field, value] of [
      ['top_k', -7],
      ['min_p', 3],
      ['repetition_penalty', 0],
      ['presence_penalty', 5],
    ] as const) {
      const res = await submit({ message: 'hi', [field]: value });
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain(field);
    }
  });

  it('offers only LLM_MODELS: GET /models lists it, another model is a 400 naming it', async () => {
    const models = await call<ModelsView>(`${stack.apiUrl}/models`, { headers });
    expect(models.body.models.map((m) => m.id.replace(/:latest$/, ''))).toEqual([def]);
    const before = stack.sim.requests().length;
    const res = await submit({ message: 'hi', model: 'other-model' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('other-model');
    expect(stack.sim.requests().length).toBe(before);
  });
});
