// Public API of @gateway/backend-sim: a vLLM / Ollama stand-in for tests and benchmarks.

export { simReply } from './reply.js';
export { startBackendSim } from './server.js';
export { countSimTokens, countTextTokens } from './tokenizer.js';
export type {
  BackendSim,
  FaultKind,
  RecordedRequest,
  ReplyStyle,
  SimConfig,
  SimFaults,
  SimKind,
  SimMessage,
  SimOptions,
  SimStats,
} from './types.js';
