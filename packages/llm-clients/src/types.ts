export type LlmService = 'vllm' | 'ollama';
export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  maxTokens: number;
  temperature?: number;
  topP?: number;
  stop?: string[];
  seed?: number;
  /** Ollama `options.num_ctx`; always sent to Ollama as `numCtx ?? contextTokens`. */
  numCtx?: number;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export type FinishReason = 'stop' | 'length';

export interface ChatResult {
  content: string;
  finishReason: FinishReason;
  usage: Usage;
  model: string;
}

export interface ModelInfo {
  id: string;
  details: Record<string, unknown>;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface StreamOptions extends CallOptions {
  onToken: (delta: string) => void;
}

export interface LlmClient {
  readonly service: LlmService;
  readonly baseUrl: string;
  /** Non-streaming completion. */
  chat(req: ChatRequest, opts?: CallOptions): Promise<ChatResult>;
  /** Streaming completion: `onToken` gets each text delta; resolves with the whole result. */
  chatStream(req: ChatRequest, opts: StreamOptions): Promise<ChatResult>;
  /** vLLM `GET /v1/models`, Ollama `GET /api/tags`. */
  listModels(opts?: CallOptions): Promise<ModelInfo[]>;
  /** vLLM `GET /health`, Ollama `GET /api/version`; throws GatewayError when not healthy. */
  health(opts?: CallOptions): Promise<void>;
  /** vLLM `POST /tokenize`; null when unsupported (Ollama) or when the call fails. */
  countTokens(model: string, messages: ChatMessage[], opts?: CallOptions): Promise<number | null>;
  close(): Promise<void>;
}

export interface LlmClientOptions {
  service: LlmService;
  baseUrl: string;
  /** Deadline for a whole request, body included. */
  timeoutMs: number;
  /** Max gap between stream chunks and before the first byte; default min(timeoutMs, 30000). */
  idleTimeoutMs?: number;
  /** undici Pool size = concurrency; default 16. */
  connections?: number;
  /** Default Ollama num_ctx; default 4096. */
  contextTokens?: number;
  /** vLLM --api-key, sent as a Bearer token. */
  apiKey?: string;
  /** Longest accepted SSE/NDJSON line in bytes; default 1 MiB. */
  maxLineBytes?: number;
}
