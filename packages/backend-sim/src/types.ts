// Public types of the simulator. Kept apart from the implementation so the gateway's tests can
// import them without pulling node:http into type-only code.

export type SimKind = 'vllm' | 'ollama';
export type ReplyStyle = 'chat' | 'roleplay';

/** Probabilities (0..1) per chat request. At most one fault is drawn per request. */
export interface SimFaults {
  /** 500 before any byte. */
  errorRate: number;
  /** Accept the request and never answer until the client closes. */
  hangRate: number;
  /** Destroy the socket half way through the reply. */
  dropRate: number;
  /** Error event in the backend's own stream framing half way through (status already 200). */
  streamErrorRate: number;
  /** An nginx-style HTML 502 page, as a proxy in front of the backend would send. */
  garbageRate: number;
  /** Send the first half of the reply, then nothing (socket kept open) until the client closes. */
  stallRate: number;
}

export interface SimOptions {
  kind: SimKind;
  /** 0 = random (default). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** vllm default ['unsloth/gemma-3-27b-it-bnb-4bit'], ollama default ['gemma-3-27b-it']. */
  models?: string[];
  /** Time to first token in ms, default 0. */
  ttftMs?: number;
  /** Delay between tokens in ms, default 0. */
  tokenDelayMs?: number;
  /** Tokens in a reply when max_tokens allows, default 24. */
  replyTokens?: number;
  /**
   * `chat` (default): short sentences of 3-7 tokens. `roleplay`: sentences of 11-14 tokens, as a
   * role-play model writes them (four of them take about 2 s at 40 ms a token).
   */
  replyStyle?: ReplyStyle;
  /** vLLM --max-num-seqs (default 12) / OLLAMA_NUM_PARALLEL (default 1). */
  capacity?: number;
  /** vLLM --max-num-queued-reqs (default unlimited) / OLLAMA_MAX_QUEUE (default 512). */
  maxQueue?: number;
  /** vLLM --max-model-len, default 4096. */
  maxModelLen?: number;
  /** vLLM --enable-auto-tool-choice: `tool_choice: "auto"` is served (default false, as in vLLM). */
  autoToolChoice?: boolean;
  faults?: Partial<SimFaults>;
  /** Seed of the fault RNG (default 1): the same seed gives the same fault sequence. */
  seed?: number;
  /**
   * While true, a request given a slot keeps it but sends nothing; its ttft clock starts when this
   * turns false. Slots and the wait list fill as usual, so a test can build a queue without racing the
   * clock (default false).
   */
  paused?: boolean;
}

export type SimConfig = Partial<Omit<SimOptions, 'kind' | 'port' | 'host'>>;

export interface SimStats {
  /** Chat requests received (valid or not). */
  requests: number;
  /** Chat requests currently open at the server: waiting + generating (+ hung ones). */
  inFlight: number;
  /** Open chat requests waiting for a generation slot. */
  waiting: number;
  /** Peak of inFlight. */
  maxInFlight: number;
  /** Sequences generating now (a request with vLLM `n` holds n of them). */
  generating: number;
  /** Peak of generating (never above capacity). */
  maxGenerating: number;
  /** Replies sent in full. */
  completed: number;
  /** Requests the client closed before the reply ended (while waiting, generating, hung or stalled). */
  aborted: number;
  /** Requests answered 4xx (validation, unknown model, context) or 503 (queue full). */
  rejected: number;
  /** Injected faults. */
  errors: number;
}

export type FaultKind = 'error' | 'hang' | 'drop' | 'streamError' | 'garbage' | 'stall';

export interface RecordedRequest {
  /** Arrival time, ms since epoch. */
  at: number;
  path: string;
  /** Parsed JSON body, or the raw text when it was not JSON. */
  body: unknown;
  /** Reply text, set when the reply was generated (even if not fully sent). */
  reply?: string;
  aborted?: boolean;
  /** Ollama only: the oldest messages were dropped to fit num_ctx. */
  truncatedByNumCtx?: boolean;
  /** HTTP status sent, when one was sent. */
  status?: number;
  /** The fault injected into this request, if any. */
  fault?: FaultKind;
}

export interface BackendSim {
  readonly url: string;
  readonly port: number;
  readonly kind: SimKind;
  stats(): SimStats;
  resetStats(): void;
  /** The last 1000 chat requests, oldest first. */
  requests(): RecordedRequest[];
  /** Change timing, faults, capacity at run time. */
  configure(opts: SimConfig): void;
  /** Stop listening and destroy open sockets (connection refused afterwards); keeps state. */
  stop(): Promise<void>;
  /** Listen again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface SimMessage {
  role: string;
  content: string;
}
