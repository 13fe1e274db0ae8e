import { isRecord, malformed } from './errors.js';
import type { ChatMessage, FinishReason, LlmService, Usage } from './types.js';

export function parseJson(text: string, service: LlmService, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const preview = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw malformed(service, `${what} is not valid JSON: ${preview}`, 200, err);
  }
}

export function parseJsonObject(text: string, service: LlmService, what: string): Record<string, unknown> {
  const v = parseJson(text, service, what);
  if (!isRecord(v)) throw malformed(service, `${what} is not a JSON object`);
  return v;
}

export function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

export function usageOf(prompt: unknown, completion: unknown, total?: unknown): Usage {
  const promptTokens = count(prompt);
  const completionTokens = count(completion);
  const totalTokens = typeof total === 'number' ? count(total) : promptTokens + completionTokens;
  return { promptTokens, completionTokens, totalTokens };
}

export const NO_USAGE: Usage = Object.freeze({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });

/** Only `length` means "cut short"; stop, stop strings, EOS, abort and the rest all end the turn. */
export function finishOf(reason: unknown): FinishReason {
  return reason === 'length' ? 'length' : 'stop';
}

/** Sends role, content and the OpenAI message fields that are set, whatever else the caller's objects carry. */
export function wireMessages(messages: ChatMessage[]): ChatMessage[] {
  return messages.map(({ role, content, name, tool_calls, tool_call_id }) =>
    name === undefined && tool_calls === undefined && tool_call_id === undefined
      ? { role, content }
      : (compact({ role, content, name, tool_calls, tool_call_id }) as ChatMessage),
  );
}

/** Drops undefined fields so the backend applies its own defaults. */
export function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
