import type { PoolServer } from '@gateway/config';
import { GatewayError } from '@gateway/contracts';
import { createLlmClient, type LlmClient, type ModelInfo } from '@gateway/llm-clients';
import { type ChatPool, poolModels, servesModel } from '@gateway/queue';

/** Health of one server as `/ready` reports it. */
export interface ServerHealth {
  name: string;
  ok: boolean;
  /** `ok` or why the health check failed. */
  check: string;
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} did not answer in ${ms} ms`)), ms).unref(),
    ),
  ]);

/**
 * The api's view of the GPU servers: one small client per server, for health checks and model lists
 * (the llm-workers do the generating). Lists every server's models as one, and tells whether every
 * configured model has a healthy server.
 */
export class PoolBackends {
  readonly clients = new Map<string, LlmClient>();
  private readonly stopWatching: () => void;

  constructor(
    private readonly servers: readonly PoolServer[],
    private readonly pool: ChatPool,
    opts: { timeoutMs: number; contextTokens: number },
  ) {
    for (const s of servers) {
      if (!s.baseUrl) continue;
      this.clients.set(
        s.name,
        createLlmClient({
          service: s.service,
          baseUrl: s.baseUrl,
          timeoutMs: Math.min(opts.timeoutMs, 10_000),
          connections: 4,
          contextTokens: opts.contextTokens,
          ...(s.apiKey ? { apiKey: s.apiKey } : {}),
        }),
      );
    }
    // Routing needs the models of servers listed without `models`: ask them now and then.
    this.stopWatching = pool.single
      ? () => {}
      : pool.watchModels(
          Object.fromEntries(
            [...this.clients].map(([name, c]) => [name, async () => (await c.listModels()).map((m) => m.id)]),
          ),
        );
  }

  /** Whether some server serves `model` (true while a server's list is still unknown). */
  serves(model: string): boolean {
    return this.pool.names.some((n) => {
      const models = this.pool.modelsOf(n);
      return models === null || servesModel(models, model);
    });
  }

  /** Every model the pool serves, known so far. */
  knownModels(): string[] {
    return poolModels(this.pool.names.map((n) => ({ models: this.pool.modelsOf(n) })));
  }

  /**
   * Every server's models as one list: each model once, with the servers that serve it in
   * `details.servers`. A server that does not answer contributes its configured list.
   */
  async listModels(): Promise<ModelInfo[]> {
    if (this.clients.size === 0) throw new GatewayError('backend_unavailable', 'no backend URL configured');
    const lists = await Promise.allSettled(
      this.servers.map(async (s) => {
        const client = this.clients.get(s.name);
        const reported = client ? await client.listModels() : [];
        this.pool.setDiscovered(
          s.name,
          reported.map((m) => m.id),
        );
        // A configured list says what may be routed there; the server's own entries give the details.
        if (!s.models) return reported;
        return s.models.map((id) => reported.find((m) => m.id === id) ?? { id, details: {} });
      }),
    );
    const out = new Map<string, ModelInfo & { servers: string[] }>();
    lists.forEach((r, i) => {
      const s = this.servers[i]!;
      const models =
        r.status === 'fulfilled' ? r.value : (s.models ?? []).map((id) => ({ id, details: {} }) as ModelInfo);
      for (const m of models) {
        const seen = out.get(m.id);
        if (seen) seen.servers.push(s.name);
        else out.set(m.id, { ...m, servers: [s.name] });
      }
    });
    if (out.size === 0 && lists.every((r) => r.status === 'rejected')) {
      throw (lists[0] as PromiseRejectedResult).reason;
    }
    return [...out.values()].map(({ servers, ...m }) => ({
      ...m,
      details: this.servers.length > 1 ? { ...m.details, servers } : m.details,
    }));
  }

  /** Each server's own health check (vLLM `/health`, Ollama `/api/version`), in parallel. */
  async health(timeoutMs = 2_000): Promise<ServerHealth[]> {
    return Promise.all(
      this.servers.map(async (s) => {
        const client = this.clients.get(s.name);
        try {
          if (!client) throw new Error('no backend URL configured');
          await withTimeout(client.health(), timeoutMs, s.name);
          return { name: s.name, ok: true, check: 'ok' };
        } catch (err) {
          return { name: s.name, ok: false, check: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
  }

  /** The configured (or reported) models that no healthy server serves right now. */
  uncovered(health: readonly ServerHealth[]): string[] {
    const healthy = new Set(health.filter((h) => h.ok).map((h) => h.name));
    return this.knownModels().filter(
      (m) =>
        !this.pool.names.some((n) => {
          const models = this.pool.modelsOf(n);
          return healthy.has(n) && models !== null && servesModel(models, m);
        }),
    );
  }

  async close(): Promise<void> {
    this.stopWatching();
    await Promise.allSettled([...this.clients.values()].map((c) => c.close()));
  }
}
