/**
 * A `/v1` caller's messages are the prompt. Gemma 3 has no system role and needs strictly alternating
 * user/assistant turns (PROTOCOLS.md "Gemma 3 chat template"), so they are fitted to that with the
 * smallest change that keeps every instruction where the caller put it, the way SillyTavern's "strict"
 * prompt post-processing does:
 * - the leading system messages become the one system prompt;
 * - a later system message becomes user text at its own position: it joins the user turn next to it, or
 *   is a user turn of its own between two assistant turns;
 * - consecutive turns of one role are merged in order (blank line between);
 * - a message's `name` stays on it while it stands alone (vLLM takes it); merged, each named part is
 *   written as "Name: text" so that nobody's words lose their speaker;
 * - a conversation the assistant opens (a greeting) gets a neutral user turn before it, never text in a
 *   fixed language;
 * - tool results and tool-calling turns are left as they are.
 */
import { type ChatMessage, NEUTRAL_OPENING } from './messages.js';

const SEPARATOR = '\n\n';

export interface ClientMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  name?: string | undefined;
  tool_calls?: unknown[] | undefined;
  tool_call_id?: string | undefined;
}

export interface ClientPrompt {
  messages: ChatMessage[];
  /** The last message is an assistant message: continue it rather than start a new reply. */
  continueFinal: boolean;
  /** A neutral user turn was put before the assistant's opening (it is not the caller's). */
  openedNeutral: boolean;
}

/**
 * How many of the caller's messages trimming left out, given the turns it dropped: the neutral opening,
 * dropped with the first turn, was never the caller's.
 */
export function droppedCallerMessages(
  prompt: ClientPrompt,
  fit: { droppedPairs: number; droppedMessages: number },
) {
  return fit.droppedMessages - (prompt.openedNeutral && fit.droppedPairs > 0 ? 1 : 0);
}

const named = (m: ClientMessage) => (m.name ? `${m.name}: ${m.content}` : m.content);
const mergeable = (m: ChatMessage) =>
  (m.role === 'user' || m.role === 'assistant') && m.tool_calls === undefined && m.tool_call_id === undefined;

function plain(m: ClientMessage, role: ChatMessage['role']): ChatMessage {
  const out: ChatMessage = { role, content: m.content };
  if (m.name) out.name = m.name;
  if (m.tool_calls) out.tool_calls = m.tool_calls;
  if (m.tool_call_id) out.tool_call_id = m.tool_call_id;
  return out;
}

export function fitClientMessages(input: readonly ClientMessage[]): ClientPrompt {
  let start = 0;
  while (input[start]?.role === 'system') start += 1;
  const system = input
    .slice(0, start)
    .map(named)
    .filter((t) => t.length > 0);
  const out: ChatMessage[] = [];
  for (const m of input.slice(start)) {
    // A later system message is an instruction at this point of the conversation: user text here.
    const role = m.role === 'system' ? 'user' : m.role;
    const last = out[out.length - 1];
    const next = plain(m, role);
    if (last && last.role === role && mergeable(last) && mergeable(next)) {
      const head = last.name ? `${last.name}: ${last.content}` : last.content;
      last.content = [head, named(m)].filter((t) => t.length > 0).join(SEPARATOR);
      delete last.name;
    } else {
      out.push(next);
    }
  }
  const openedNeutral = out[0]?.role === 'assistant';
  if (openedNeutral) out.unshift({ role: 'user', content: NEUTRAL_OPENING });
  if (system.length > 0) out.unshift({ role: 'system', content: system.join(SEPARATOR) });
  const last = out[out.length - 1];
  const continueFinal = last?.role === 'assistant' && last.tool_calls === undefined && last.content !== '';
  return { messages: out, continueFinal, openedNeutral };
}
