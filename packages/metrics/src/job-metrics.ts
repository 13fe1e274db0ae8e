import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

// Buckets from 5 ms to 2 min: queue waits and generations on a busy GPU span that range.
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * What an llm-worker measures about each chat job and the backend. Every series carries a `backend`
 * label: the GPU server of the pool (`default` for the pool of one built from LLM_SERVICE).
 */
export class LlmWorkerMetrics {
  readonly queueWait: Histogram<'backend'>;
  readonly ttft: Histogram<'backend'>;
  readonly generation: Histogram<'backend'>;
  readonly tokens: Counter<'backend'>;
  readonly backendErrors: Counter<'code' | 'backend'>;
  readonly inFlight: Gauge<'backend'>;
  readonly textAggregation: Histogram;
  readonly limit: Gauge<'backend'>;
  readonly jobs: Counter<'outcome' | 'backend'>;

  /** `limits`: each server's cap (its `concurrency`, held over all workers), by server name. */
  constructor(registry: Registry, limits: Record<string, number>) {
    const r = [registry];
    const labelNames = ['backend'] as const;
    this.queueWait = new Histogram({
      name: 'gateway_job_queue_wait_seconds',
      help: 'Time from submission to the start of generation',
      labelNames,
      buckets: SECONDS,
      registers: r,
    });
    this.ttft = new Histogram({
      name: 'gateway_job_ttft_seconds',
      help: 'Time from the start of a job to its first token from the backend',
      labelNames,
      buckets: SECONDS,
      registers: r,
    });
    this.generation = new Histogram({
      name: 'gateway_job_generation_seconds',
      help: 'Time from the first token to the end of the reply',
      labelNames,
      buckets: SECONDS,
      registers: r,
    });
    this.tokens = new Counter({
      name: 'gateway_tokens_generated_total',
      help: 'Completion tokens generated (rate() gives tokens per second)',
      labelNames,
      registers: r,
    });
    this.backendErrors = new Counter({
      name: 'gateway_backend_errors_total',
      help: 'Backend failures by error code',
      labelNames: ['code', 'backend'],
      registers: r,
    });
    this.inFlight = new Gauge({
      name: 'gateway_backend_in_flight',
      help: 'Requests this process has in flight at the backend',
      labelNames,
      registers: r,
    });
    this.textAggregation = new Histogram({
      name: 'gateway_text_aggregation_seconds',
      help: "Time from a reply's first token to its first complete sentence (sent to speech at once)",
      buckets: SECONDS,
      registers: r,
    });
    this.limit = new Gauge({
      name: 'gateway_backend_concurrency_limit',
      help: 'The global limit of requests in flight at each backend (its concurrency over all workers)',
      labelNames,
      registers: r,
    });
    for (const [backend, limit] of Object.entries(limits)) {
      this.limit.set({ backend }, limit);
      // Present from the start, so a server that has not run a job yet reads 0, not absent.
      this.inFlight.set({ backend }, 0);
    }
    this.jobs = new Counter({
      name: 'gateway_jobs_total',
      help: 'Chat jobs handled by outcome',
      labelNames: ['outcome', 'backend'],
      registers: r,
    });
  }
}

/** What a tts-worker measures. */
export class TtsWorkerMetrics {
  readonly synthesis: Histogram;
  readonly firstAudio: Histogram;
  readonly jobs: Counter<'outcome'>;

  constructor(registry: Registry) {
    this.firstAudio = new Histogram({
      name: 'gateway_time_to_first_audio_seconds',
      help: "Time from a chat job's submission to its first sentence's audio being ready",
      buckets: SECONDS,
      registers: [registry],
    });
    this.synthesis = new Histogram({
      name: 'gateway_job_tts_seconds',
      help: 'Time to synthesize the speech of one reply',
      buckets: SECONDS,
      registers: [registry],
    });
    this.jobs = new Counter({
      name: 'gateway_tts_jobs_total',
      help: 'Speech jobs by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    });
  }
}
