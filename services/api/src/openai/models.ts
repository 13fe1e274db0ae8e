import { isModelAllowed } from '@gateway/config';
import { GatewayError, type OpenAiModelList } from '@gateway/contracts';
import type { LlmClient, ModelInfo } from '@gateway/llm-clients';

const FRESH_MS = 10_000;
// A list this old is still served (and trusted) while the backend cannot be asked.
const STALE_MS = 10 * 60_000;

export interface CatalogOptions {
  /** The pool's model lists (every server's); null without a backend URL. */
  llm: Pick<LlmClient, 'listModels'> | null;
  service: 'vllm' | 'ollama';
  defaultModel: string;
  /** LLM_MODELS: the models a request may name (`*`: any the backend serves). */
  allowed: readonly string[];
}

/** 400 for a model outside LLM_MODELS: Ollama would load it on demand and evict the configured one. */
export function modelNotAllowed(model: string, allowed: readonly string[]): GatewayError {
  return new GatewayError(
    'invalid_input',
    `The model \`${model}\` is not offered here; choose one of: ${allowed.join(', ')}`,
    { details: [{ field: 'body.model', message: `model ${model} is not allowed` }] },
  );
}

/**
 * The backend's models, asked for at most every 10 s: `GET /v1/models` answers from it and every chat
 * completion checks its `model` against it. While the backend cannot be reached, the last list (up to
 * 10 min old) stands in, and the configured default model is always accepted (its jobs then wait in the
 * queue for the backend like any other).
 */
export class ModelCatalog {
  private cache: { at: number; models: ModelInfo[] } | null = null;
  private pending: Promise<ModelInfo[]> | null = null;

  constructor(private readonly o: CatalogOptions) {}

  async models(now = Date.now()): Promise<ModelInfo[]> {
    if (this.cache && now - this.cache.at < FRESH_MS) return this.cache.models;
    // Concurrent requests share one backend call.
    this.pending ??= this.fetch().finally(() => {
      this.pending = null;
    });
    try {
      return await this.pending;
    } catch (err) {
      if (this.cache && now - this.cache.at < STALE_MS) return this.cache.models;
      throw err;
    }
  }

  private async fetch(): Promise<ModelInfo[]> {
    if (!this.o.llm)
      throw new GatewayError('backend_unavailable', 'no backend URL configured', { retryAfter: 5 });
    const models = await this.o.llm.listModels();
    this.cache = { at: Date.now(), models };
    return models;
  }

  /**
   * The model a request names, as the backend knows it: an empty name is the default model; one outside
   * LLM_MODELS is a 400 naming it; 404 `model_not_found` for one the backend does not serve.
   */
  async resolve(requested: string | null | undefined): Promise<string> {
    const def = this.o.defaultModel;
    if (!requested || requested === def) return def;
    if (!isModelAllowed(this.o.allowed, requested)) throw modelNotAllowed(requested, this.o.allowed);
    let models: ModelInfo[];
    try {
      models = await this.models();
    } catch (err) {
      throw new GatewayError('backend_unavailable', `cannot check the model: the backend did not answer`, {
        retryAfter: 5,
        cause: err,
      });
    }
    const found = matchModel(
      requested,
      models.map((m) => m.id),
    );
    if (found) return found;
    throw new GatewayError('model_not_found', `The model \`${requested}\` does not exist.`, {
      details: { param: 'model' },
    });
  }

  async list(): Promise<OpenAiModelList> {
    const models = (await this.models()).filter((m) => isModelAllowed(this.o.allowed, m.id));
    return {
      object: 'list',
      data: models.map((m) => ({
        id: m.id,
        object: 'model' as const,
        created: createdOf(m),
        owned_by: typeof m.details.owned_by === 'string' ? m.details.owned_by : this.o.service,
      })),
    };
  }
}

/** Ollama names `gemma3` and `gemma3:latest` the same model. */
export function matchModel(requested: string, ids: string[]): string | null {
  if (ids.includes(requested)) return requested;
  if (!requested.includes(':') && ids.includes(`${requested}:latest`)) return `${requested}:latest`;
  const bare = requested.endsWith(':latest') ? requested.slice(0, -':latest'.length) : null;
  return bare !== null && ids.includes(bare) ? bare : null;
}

/** vLLM gives `created` (seconds), Ollama `modified_at` (ISO); 0 when neither says. */
function createdOf(m: ModelInfo): number {
  const created = m.details.created;
  if (typeof created === 'number' && Number.isFinite(created)) return Math.floor(created);
  const modified = m.details.modified_at;
  const ms = typeof modified === 'string' ? Date.parse(modified) : Number.NaN;
  return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
}
