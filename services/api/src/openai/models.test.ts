import { GatewayError } from '@gateway/contracts';
import type { LlmClient, ModelInfo } from '@gateway/llm-clients';
import { describe, expect, it } from 'vitest';
import { ModelCatalog, matchModel } from './models.js';

function fakeLlm(models: ModelInfo[]) {
  const state = { calls: 0, down: false };
  const llm = {
    listModels: async () => {
      state.calls++;
      if (state.down) throw new GatewayError('backend_unavailable', 'connection refused');
      return models;
    },
  } as unknown as LlmClient;
  return { llm, state };
}

describe('ModelCatalog', () => {
  it('lists models in OpenAI shape and asks the backend at most every 10 s', async () => {
    const { llm, state } = fakeLlm([
      { id: 'a', details: { created: 1700000000.5, owned_by: 'vllm' } },
      { id: 'b:latest', details: { modified_at: '2024-05-01T00:00:00Z' } },
    ]);
    const catalog = new ModelCatalog({ llm, service: 'ollama', defaultModel: 'a', allowed: ['*'] });
    const [list] = await Promise.all([catalog.list(), catalog.list()]);
    expect(list).toEqual({
      object: 'list',
      data: [
        { id: 'a', object: 'model', created: 1700000000, owned_by: 'vllm' },
        { id: 'b:latest', object: 'model', created: 1714521600, owned_by: 'ollama' },
      ],
    });
    await catalog.resolve('b');
    expect(state.calls).toBe(1);
  });

  it('resolves names, 404s unknown ones, and keeps serving while the backend is away', async () => {
    const { llm, state } = fakeLlm([{ id: 'served', details: {} }]);
    const catalog = new ModelCatalog({ llm, service: 'vllm', defaultModel: 'default', allowed: ['*'] });
    expect(await catalog.resolve(undefined)).toBe('default');
    expect(await catalog.resolve('served')).toBe('served');
    await expect(catalog.resolve('nope')).rejects.toMatchObject({ code: 'model_not_found', status: 404 });
    state.down = true;
    // A fresh catalog with nothing cached cannot check a name, but the default always goes through.
    const cold = new ModelCatalog({ llm, service: 'vllm', defaultModel: 'default', allowed: ['*'] });
    await expect(cold.resolve('served')).rejects.toMatchObject({ code: 'backend_unavailable', status: 503 });
    expect(await cold.resolve('default')).toBe('default');
    await expect(cold.list()).rejects.toMatchObject({ code: 'backend_unavailable' });
    // The warm one answers from its last list (cached for up to 10 minutes).
    expect(await catalog.resolve('served')).toBe('served');
  });

  it('offers only the LLM_MODELS allowlist: another name is a 400 naming it, the list holds only those', async () => {
    const { llm, state } = fakeLlm([
      { id: 'gemma3:latest', details: {} },
      { id: 'llama3:70b', details: {} },
    ]);
    const catalog = new ModelCatalog({ llm, service: 'ollama', defaultModel: 'gemma3', allowed: ['gemma3'] });
    expect(await catalog.resolve('')).toBe('gemma3');
    expect(await catalog.resolve('gemma3:latest')).toBe('gemma3:latest');
    const calls = state.calls;
    const refused = catalog.resolve('llama3:70b');
    await expect(refused).rejects.toMatchObject({ code: 'invalid_input', status: 400 });
    await expect(refused).rejects.toThrow(/llama3:70b/);
    // Refused before the backend is asked: nothing can make Ollama load it.
    expect(state.calls).toBe(calls);
    expect((await catalog.list()).data.map((m) => m.id)).toEqual(['gemma3:latest']);
  });

  it('treats Ollama `name` and `name:latest` as one model', () => {
    expect(matchModel('gemma3', ['gemma3:latest'])).toBe('gemma3:latest');
    expect(matchModel('gemma3:latest', ['gemma3'])).toBe('gemma3');
    expect(matchModel('gemma3:27b', ['gemma3:latest'])).toBeNull();
  });
});
