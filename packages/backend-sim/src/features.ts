// Sampling fields, structured output, logprobs, n and tool calls as vLLM and Ollama take them: the
// checks each server makes (so a test sees the same 400s a real server gives) and the deterministic
// extras of a reply (JSON text, per-token logprobs, a tool call).

import { isObject } from './http.js';
import { hashText } from './reply.js';

/** What a chat request asked for beyond plain text. */
export interface Features {
  /** Choices wanted (vLLM `n`). */
  n: number;
  logprobs: boolean;
  topLogprobs: number;
  /** `json` (any object) or a JSON schema the text must follow. */
  json?: 'json' | Record<string, unknown>;
  /** The tool the reply calls, when tools were offered and may be called. */
  tool?: string;
}

export const PLAIN: Features = { n: 1, logprobs: false, topLogprobs: 0 };

/** A field the server refuses, in its own words. */
export class Refusal {
  constructor(
    readonly param: string,
    readonly message: string,
  ) {}
}
type Check = Refusal | undefined;
const bad = (param: string, message: string) => new Refusal(param, message);
const OK: Check = undefined;
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const absent = (v: unknown) => v === undefined || v === null;

/** vLLM's SamplingParams checks (vllm/sampling_params.py `_verify_args`), in its words. */
export function checkVllmSampling(body: Record<string, unknown>): Check {
  const t = body['temperature'];
  if (!absent(t) && (!num(t) || t < 0))
    return bad('temperature', `temperature must be non-negative, got ${t}.`);
  const p = body['top_p'];
  if (!absent(p) && (!num(p) || p <= 0 || p > 1)) return bad('top_p', `top_p must be in (0, 1], got ${p}.`);
  const k = body['top_k'];
  if (!absent(k) && (!num(k) || !Number.isInteger(k) || k < -1))
    return bad('top_k', `top_k must be 0 (disable), or at least 1, got ${k}.`);
  const minP = body['min_p'];
  if (!absent(minP) && (!num(minP) || minP < 0 || minP > 1))
    return bad('min_p', `min_p must be in [0, 1], got ${minP}.`);
  const rp = body['repetition_penalty'];
  if (!absent(rp) && (!num(rp) || rp <= 0))
    return bad('repetition_penalty', `repetition_penalty must be greater than zero, got ${rp}.`);
  for (const name of ['presence_penalty', 'frequency_penalty']) {
    const v = body[name];
    if (!absent(v) && (!num(v) || v < -2 || v > 2)) return bad(name, `${name} must be in [-2, 2], got ${v}.`);
  }
  const n = body['n'];
  if (!absent(n) && (!num(n) || !Number.isInteger(n) || n < 1))
    return bad('n', `n must be at least 1, got ${n}.`);
  const lp = body['logprobs'];
  if (!absent(lp) && typeof lp !== 'boolean') return bad('logprobs', 'logprobs must be a boolean.');
  const top = body['top_logprobs'];
  if (!absent(top)) {
    if (!num(top) || !Number.isInteger(top) || top < 0)
      return bad('top_logprobs', 'top_logprobs must be a non-negative integer.');
    if (top > 20)
      return bad(
        'top_logprobs',
        `Requested sample logprobs of ${top}, which is greater than max allowed: 20`,
      );
    if (lp !== true && top > 0)
      return bad('top_logprobs', 'when using `top_logprobs`, `logprobs` must be set to true.');
  }
  const bias = body['logit_bias'];
  if (!absent(bias)) {
    if (!isObject(bias)) return bad('logit_bias', 'logit_bias must be an object.');
    for (const [key, v] of Object.entries(bias)) {
      if (!/^\d+$/.test(key))
        return bad('logit_bias', `token_id in logit_bias contains out-of-vocab token id ${key}`);
      if (!num(v) || v < -100 || v > 100)
        return bad('logit_bias', 'logit_bias values must be in [-100, 100].');
    }
  }
  const stop = body['stop'];
  if (
    !absent(stop) &&
    typeof stop !== 'string' &&
    !(Array.isArray(stop) && stop.every((s) => typeof s === 'string'))
  )
    return bad('stop', 'stop must be a string or a list of strings.');
  const seed = body['seed'];
  if (!absent(seed) && (!num(seed) || !Number.isInteger(seed)))
    return bad('seed', 'seed must be an integer.');
  return OK;
}

/** vLLM's chat-template flags: continuing the last message needs it to be an assistant message. */
export function checkVllmContinue(body: Record<string, unknown>, lastRole: string | undefined): Check {
  const cont = body['continue_final_message'] === true;
  const gen = body['add_generation_prompt'] !== false;
  if (cont && gen)
    return bad(
      'continue_final_message',
      'Cannot set both `continue_final_message` and `add_generation_prompt` to True.',
    );
  if (cont && lastRole !== 'assistant')
    return bad(
      'continue_final_message',
      'continue_final_message is set but the final message is not from the assistant',
    );
  return OK;
}

/**
 * vLLM's tool handling: `auto` needs the server started with --enable-auto-tool-choice (the `toolCalls`
 * option of the simulator); `required` and a named function work without it (guided decoding).
 */
export function vllmTool(
  body: Record<string, unknown>,
  autoToolChoice: boolean,
): Refusal | string | undefined {
  const tools = body['tools'];
  if (absent(tools)) return undefined;
  if (!Array.isArray(tools)) return bad('tools', 'tools must be a list.');
  const names = tools.map((t) =>
    isObject(t) && isObject(t['function']) ? t['function']['name'] : undefined,
  );
  if (names.some((n) => typeof n !== 'string')) return bad('tools', 'each tool needs function.name.');
  const choice = body['tool_choice'] ?? 'auto';
  if (choice === 'none') return undefined;
  if (choice === 'auto') {
    if (!autoToolChoice)
      return bad(
        'tool_choice',
        '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
      );
    return names[0] as string;
  }
  if (choice === 'required') return names[0] as string;
  if (isObject(choice) && isObject(choice['function']) && typeof choice['function']['name'] === 'string') {
    const name = choice['function']['name'];
    return names.includes(name)
      ? name
      : bad('tool_choice', `Tool '${name}' has not been passed in \`tools\`.`);
  }
  return bad('tool_choice', 'tool_choice must be none, auto, required or a named function.');
}

/** vLLM `response_format`: json_object, json_schema (with a schema), or text. */
export function vllmJson(body: Record<string, unknown>): Refusal | Features['json'] {
  const rf = body['response_format'];
  if (absent(rf)) return undefined;
  if (!isObject(rf)) return bad('response_format', 'response_format must be an object.');
  if (rf['type'] === 'text') return undefined;
  if (rf['type'] === 'json_object') return 'json';
  if (rf['type'] === 'json_schema') {
    const js = rf['json_schema'];
    if (!isObject(js)) return bad('response_format', 'json_schema is required for type json_schema.');
    return isObject(js['schema']) ? js['schema'] : 'json';
  }
  return bad('response_format', `unknown response_format type ${String(rf['type'])}.`);
}

/** Ollama's option types (api.Options): a wrong type is a 400, an unknown option only a warning. */
const OLLAMA_NUMERIC = [
  'num_predict',
  'num_ctx',
  'temperature',
  'top_p',
  'top_k',
  'min_p',
  'repeat_penalty',
  'presence_penalty',
  'frequency_penalty',
  'seed',
  'repeat_last_n',
  'typical_p',
];

export function checkOllamaOptions(body: Record<string, unknown>): string | undefined {
  const options = body['options'];
  if (absent(options)) return undefined;
  if (!isObject(options)) return 'json: cannot unmarshal into Go struct field ChatRequest.options';
  for (const name of OLLAMA_NUMERIC) {
    const v = options[name];
    if (!absent(v) && !num(v)) return `option "${name}" must be of type number`;
  }
  const stop = options['stop'];
  if (!absent(stop) && !(Array.isArray(stop) && stop.every((s) => typeof s === 'string')))
    return 'option "stop" must be of type array';
  return undefined;
}

/** Ollama `format`: "json" or a JSON schema object. */
export function ollamaJson(body: Record<string, unknown>): Features['json'] | Refusal {
  const f = body['format'];
  if (absent(f) || f === '') return undefined;
  if (f === 'json') return 'json';
  if (isObject(f)) return f;
  return bad('format', 'invalid format: expected "json" or a JSON schema');
}

/** Ollama calls the first tool offered when it has tools (the simulator's model always decides to). */
export function ollamaTool(body: Record<string, unknown>): string | undefined {
  const tools = body['tools'];
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  const t = tools[0];
  return isObject(t) && isObject(t['function']) && typeof t['function']['name'] === 'string'
    ? t['function']['name']
    : undefined;
}

/** A value of the schema's type, with `text` wherever a string goes. */
function instanceOf(schema: unknown, text: string): unknown {
  if (!isObject(schema)) return text;
  switch (schema['type']) {
    case 'object': {
      const props = isObject(schema['properties']) ? schema['properties'] : {};
      return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, instanceOf(v, text)]));
    }
    case 'array':
      return [instanceOf(schema['items'], text)];
    case 'integer':
    case 'number':
      return 1;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return Array.isArray(schema['enum']) ? schema['enum'][0] : text;
  }
}

/** The reply text as JSON: `{"reply": text}` for json_object, an instance of the schema otherwise. */
export function jsonPieces(json: NonNullable<Features['json']>, text: string, maxPieces: number): string[] {
  const out = JSON.stringify(json === 'json' ? { reply: text } : instanceOf(json, text));
  // Cut into about as many pieces as the plain reply had tokens.
  const size = Math.max(1, Math.ceil(out.length / Math.max(1, maxPieces)));
  const pieces: string[] = [];
  for (let i = 0; i < out.length; i += size) pieces.push(out.slice(i, i + size));
  return pieces;
}

/** Deterministic log-probability of a piece: depends on the piece and its position only. */
function logprobOf(piece: string, i: number, rank = 0): number {
  const h = hashText(`${i}:${rank}:${piece}`);
  return -((h % 5000) / 1000) - rank;
}

const bytesOf = (s: string) => [...Buffer.from(s, 'utf8')];

/** One entry of OpenAI's / vLLM's `logprobs.content` (Ollama's `logprobs` items have the same shape). */
export function logprobEntry(piece: string, i: number, top: number) {
  const alternatives = Array.from({ length: top }, (_, r) =>
    r === 0
      ? { token: piece, logprob: logprobOf(piece, i), bytes: bytesOf(piece) }
      : { token: `${piece}~${r}`, logprob: logprobOf(piece, i, r), bytes: bytesOf(`${piece}~${r}`) },
  );
  return { token: piece, logprob: logprobOf(piece, i), bytes: bytesOf(piece), top_logprobs: alternatives };
}

/** The arguments a simulated tool call carries: the last user message, so tests can predict them. */
export const toolArguments = (lastUser: string) => JSON.stringify({ query: lastUser });

/** Choices 1..n-1 of a reply: the same generator, seeded apart from choice 0. */
export function morePieces(
  n: number,
  lastUser: string,
  reply: (messages: { role: string; content: string }[]) => string[],
): string[][] | undefined {
  if (n <= 1) return undefined;
  return Array.from({ length: n - 1 }, (_, i) => reply([{ role: 'user', content: `${lastUser}#${i + 1}` }]));
}

export function lastUserText(messages: readonly { role: string; content: string }[]): string {
  for (let i = messages.length - 1; i >= 0; i--)
    if (messages[i]!.role === 'user') return messages[i]!.content;
  return '';
}
