export type LlmService = 'vllm' | 'ollama';
export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** Who speaks (OpenAI `name`); vLLM takes it as is. */
  name?: string;
  /** An assistant turn's earlier tool calls (OpenAI shape). */
  tool_calls?: unknown[];
  /** A tool result's call id. */
  tool_call_id?: string;
}

/** Sampler fields beyond OpenAI's basic ones; each backend maps them to its own names. */
export interface Sampling {
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  logitBias?: Record<string, number>;
  logprobs?: boolean;
  topLogprobs?: number;
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
  sampling?: Sampling;
  /** Choices wanted: vLLM `n`; Ollama runs the request n times. */
  n?: number;
  /** OpenAI `response_format`: vLLM takes it as is, Ollama as `format`. */
  responseFormat?: Record<string, unknown>;
  tools?: Record<string, unknown>[];
  toolChoice?: unknown;
  /** Continue the final assistant message instead of starting a new one. */
  continueFinal?: boolean;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export type FinishReason = 'stop' | 'length';

export interface ChoiceResult {
  content: string;
  finishReason: FinishReason;
  /** OpenAI-shaped `{"content": [{token, logprob, bytes, top_logprobs}]}`. */
  logprobs?: { content: unknown[] };
  toolCalls?: ToolCall[];
}

export interface ChatResult extends ChoiceResult {
  usage: Usage;
  model: string;
  /** Every choice (the first is the result itself) when n > 1. */
  choices?: ChoiceResult[];
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
  /** The server's context window for a model (vLLM `max_model_len`); null when not reported (Ollama). */
  contextWindow(model: string, opts?: CallOptions): Promise<number | null>;
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
  /** Ollama `keep_alive`, sent with every request (a duration such as "24h", or -1). */
  keepAlive?: string | number;
  /** Longest accepted SSE/NDJSON line in bytes; default 1 MiB. */
  maxLineBytes?: number;
}
