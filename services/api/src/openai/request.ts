import type { OpenAiChatRequest, OpenAiMessage } from '@gateway/contracts';
import type { ChatMessage } from '@gateway/prompt';
import { badParam } from './errors.js';

/** What an OpenAI chat request asks the queue for, once checked. */
export interface CompletionParams {
  messages: ChatMessage[];
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number | null;
  temperature: number | null;
  topP: number | null;
  stop: string[] | null;
  seed: number | null;
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

/**
 * Checks what the schema cannot and maps the request to job parameters: `developer` is OpenAI's newer
 * name for `system`; tool and function turns, non-text parts and `n` other than 1 are refused (400).
 * `max_completion_tokens` wins over `max_tokens`, as in OpenAI's API and vLLM.
 */
export function completionParams(body: OpenAiChatRequest): CompletionParams {
  if (body.n !== null && body.n !== undefined && body.n !== 1) {
    throw badParam('n', 'only n=1 is supported: one completion per request');
  }
  const messages = body.messages.map((m, i): ChatMessage => {
    if (m.role === 'tool' || m.role === 'function') {
      throw badParam(`messages.${i}.role`, `messages[${i}]: ${m.role} messages are not supported here`);
    }
    const role = m.role === 'developer' ? 'system' : m.role;
    return { role, content: textOf(m, i) };
  });
  if (!messages.some((m) => m.role !== 'system')) {
    throw badParam('messages', 'messages must hold at least one user or assistant message');
  }
  const stop = body.stop === null || body.stop === undefined ? null : [body.stop].flat();
  return {
    messages,
    stream: body.stream === true,
    includeUsage: body.stream === true && body.stream_options?.include_usage === true,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? null,
    temperature: body.temperature ?? null,
    topP: body.top_p ?? null,
    stop: stop && stop.length > 0 ? stop : null,
    seed: body.seed ?? null,
  };
}
