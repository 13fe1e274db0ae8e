import type { BackendParams, OpenAiChatRequest, OpenAiMessage } from '@gateway/contracts';
import type { ClientMessage } from '@gateway/prompt';
import { badParam } from './errors.js';

/** What an OpenAI chat request asks the queue for, once checked. */
export interface CompletionParams {
  /** The caller's messages as given; the worker fits them to the chat template (fitClientMessages). */
  messages: ClientMessage[];
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number | null;
  temperature: number | null;
  topP: number | null;
  stop: string[] | null;
  seed: number | null;
  /** Everything else that goes to the backend. */
  backend: BackendParams;
  n: number;
}

function textOf(m: OpenAiMessage, i: number): string {
  const content = m.content;
  if (content === null || content === undefined) {
    // An assistant turn that only called tools says nothing the model needs to see.
    if (m.role === 'assistant') return '';
    throw badParam(`messages.${i}.content`, `messages[${i}].content is required for role ${m.role}`);
  }
  if (typeof content === 'string') return content;
  return content
    .map((part, j) => {
      if (part.type !== 'text' || typeof part.text !== 'string') {
        throw badParam(
          `messages.${i}.content.${j}`,
          `messages[${i}].content[${j}]: only text parts are supported here, not "${part.type}"`,
        );
      }
      return part.text;
    })
    .join('\n');
}

/** OpenAI fields the gateway cannot honour: named in a 400 rather than ignored. */
const UNSUPPORTED = ['functions', 'function_call', 'audio', 'prediction', 'web_search_options'] as const;

/**
 * The fields one backend cannot take. Ollama has no logit bias and no tool_choice (it decides itself
 * whether to call a tool: `auto`; `none` leaves the tools out).
 */
function refuseForBackend(body: OpenAiChatRequest, service: 'vllm' | 'ollama'): void {
  if (service !== 'ollama') return;
  if (body.logit_bias && Object.keys(body.logit_bias).length > 0) {
    throw badParam('logit_bias', 'logit_bias is not supported by the Ollama backend');
  }
  const choice = body.tool_choice;
  if (choice !== null && choice !== undefined && choice !== 'auto' && choice !== 'none') {
    throw badParam(
      'tool_choice',
      `tool_choice ${JSON.stringify(choice)} is not supported by the Ollama backend (only "auto" and "none")`,
    );
  }
}

const set = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);

/**
 * Checks what the schema cannot and maps the request to job parameters: `developer` is OpenAI's newer
 * name for `system`; legacy `function` turns and non-text parts are refused (400); every sampler field is
 * passed on (or refused, naming it, when the backend cannot take it). `max_completion_tokens` wins over
 * `max_tokens`, as in OpenAI's API and vLLM. `top_p: 0` means greedy: temperature 0.
 */
export function completionParams(body: OpenAiChatRequest, service: 'vllm' | 'ollama'): CompletionParams {
  for (const field of UNSUPPORTED) {
    if (body[field] !== undefined && body[field] !== null) {
      throw badParam(field, `${field} is not supported by this gateway`);
    }
  }
  if (body.parallel_tool_calls === false) {
    throw badParam('parallel_tool_calls', 'parallel_tool_calls: false is not supported by this gateway');
  }
  if (body.top_logprobs !== null && body.top_logprobs !== undefined && body.logprobs !== true) {
    throw badParam('top_logprobs', 'top_logprobs needs logprobs: true');
  }
  if (body.tool_choice && body.tool_choice !== 'none' && !body.tools?.length) {
    throw badParam('tool_choice', 'tool_choice needs tools');
  }
  refuseForBackend(body, service);
  const given = body.messages.map((m, i): ClientMessage => {
    if (m.role === 'function') {
      throw badParam(`messages.${i}.role`, `messages[${i}]: function messages are not supported; use tool`);
    }
    const role = m.role === 'developer' ? 'system' : m.role;
    const out: ClientMessage = { role, content: textOf(m, i) };
    if (m.name) out.name = m.name;
    if (m.tool_calls?.length && m.role === 'assistant') out.tool_calls = m.tool_calls;
    if (m.role === 'tool') {
      if (!m.tool_call_id)
        throw badParam(`messages.${i}.tool_call_id`, `messages[${i}]: a tool message needs tool_call_id`);
      out.tool_call_id = m.tool_call_id;
    }
    return out;
  });
  if (!given.some((m) => m.role !== 'system')) {
    throw badParam('messages', 'messages must hold at least one user or assistant message');
  }
  const stop =
    body.stop === null || body.stop === undefined ? [] : [body.stop].flat().filter((s) => s !== '');
  const greedy = body.top_p === 0;
  const format = body.response_format;
  const n = body.n ?? 1;
  const tools = body.tools?.length ? body.tools : undefined;
  const backend: BackendParams = Object.fromEntries(
    Object.entries({
      top_k: set(body.top_k),
      min_p: set(body.min_p),
      repetition_penalty: set(body.repetition_penalty),
      presence_penalty: set(body.presence_penalty),
      frequency_penalty: set(body.frequency_penalty),
      logit_bias: body.logit_bias && Object.keys(body.logit_bias).length > 0 ? body.logit_bias : undefined,
      logprobs: body.logprobs === true ? true : undefined,
      top_logprobs: body.logprobs === true ? set(body.top_logprobs) : undefined,
      n: n > 1 ? n : undefined,
      response_format: format && format.type !== 'text' ? (format as Record<string, unknown>) : undefined,
      tools: tools as Record<string, unknown>[] | undefined,
      tool_choice: tools ? set(body.tool_choice) : undefined,
    }).filter(([, v]) => v !== undefined),
  );
  return {
    messages: given,
    stream: body.stream === true,
    includeUsage: body.stream === true && body.stream_options?.include_usage === true,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? null,
    temperature: greedy ? 0 : (body.temperature ?? null),
    topP: greedy ? null : (body.top_p ?? null),
    stop: stop.length > 0 ? stop : null,
    seed: body.seed ?? null,
    backend,
    n,
  };
}
