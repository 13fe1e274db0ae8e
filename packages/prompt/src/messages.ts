/**
 * Gemma 3 chat-template rules (see PROTOCOLS.md "Gemma 3 chat template"): Gemma has no system role,
 * so exactly one system message may come first; after it, turns must alternate user/assistant
 * starting with `user`. Anything else makes vLLM answer 400 "Conversation roles must alternate".
 */

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** OpenAI `name` of a `/v1` caller's message (kept while the message stands alone). */
  name?: string;
  tool_calls?: unknown[];
  tool_call_id?: string;
}

const isToolTurn = (m: ChatMessage) =>
  m.role === 'tool' || m.tool_calls !== undefined || m.tool_call_id !== undefined;

/**
 * The user turn put before a conversation the character opens (its greeting), which Gemma needs: no words
 * of any language, so an English chat does not get a Korean line, nor the other way round.
 */
export const NEUTRAL_OPENING = '…';

const SEPARATOR = '\n\n';

function joinContents(parts: readonly string[]): string {
  return parts.filter((p) => p.length > 0).join(SEPARATOR);
}

/**
 * Merges runs of same-role turns and makes sure the first turn is `user` (a synthetic opening
 * is inserted before a leading assistant turn). Input holds no system messages.
 */
function alternate(turns: readonly ChatMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const turn of turns) {
    const last = out[out.length - 1];
    if (last !== undefined && last.role === turn.role && !isToolTurn(last) && !isToolTurn(turn)) {
      last.content = joinContents([last.content, turn.content]);
    } else {
      out.push({ ...turn });
    }
  }
  if (out[0]?.role === 'assistant') out.unshift({ role: 'user', content: NEUTRAL_OPENING });
  return out;
}

function splitSystem(messages: readonly ChatMessage[]): { system: string[]; turns: ChatMessage[] } {
  const system: string[] = [];
  const turns: ChatMessage[] = [];
  for (const m of messages) {
    if (m.role === 'system') system.push(m.content);
    else turns.push(m);
  }
  return { system, turns };
}

/**
 * Builds the messages for one role-play chat turn: one system message (the given system text,
 * plus any system messages found in history), then alternating user/assistant turns starting with
 * `user`, ending with the new user message. A conversation the character opens (its greeting,
 * given as `greeting` with an empty history, or history whose first turn is assistant) gets a
 * synthetic user turn (NEUTRAL_OPENING) before it. Consecutive same-role turns are merged with
 * a blank line, never dropped; so a history ending with an unanswered user turn is merged with
 * the new user message.
 */
export function buildChatMessages(input: {
  system: string;
  history: ChatMessage[];
  userMessage: string;
  greeting?: string | null;
}): ChatMessage[] {
  const { system, turns } = splitSystem(input.history);
  const greeting = input.greeting?.trim() ?? '';
  const conversation: ChatMessage[] =
    turns.length === 0 && greeting.length > 0 ? [{ role: 'assistant', content: greeting }] : [...turns];
  conversation.push({ role: 'user', content: input.userMessage });
  return [{ role: 'system', content: joinContents([input.system, ...system]) }, ...alternate(conversation)];
}

/**
 * Makes arbitrary caller messages (OpenAI-compatible facade) acceptable to Gemma: all system
 * messages merged in order into one first message (none if there were none), consecutive
 * same-role turns merged, a synthetic user turn before a leading assistant turn. A trailing
 * assistant turn is kept (continuation / prefill).
 */
export function normalizeForGemma(messages: ChatMessage[]): ChatMessage[] {
  const { system, turns } = splitSystem(messages);
  const out = alternate(turns);
  if (system.length > 0) out.unshift({ role: 'system', content: joinContents(system) });
  return out;
}
