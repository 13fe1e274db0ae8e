import type { ChatJobData } from '@gateway/contracts';
import {
  buildChatMessages,
  type ChatMessage,
  type ClientMessage,
  type ClientPrompt,
  fitClientMessages,
  formatPersonaForRoleplay,
} from '@gateway/prompt';
import type { StoredTurn } from '@gateway/queue';

/** The role-play system prompt of a job: its persona override wins over the character's. */
export function systemPromptOf(data: ChatJobData): string {
  return formatPersonaForRoleplay({
    characterName: data.character.name,
    persona: data.persona ?? data.character.persona,
    scenario: data.scenario,
  });
}

/** The messages sent to the backend, before trimming to the context window. */
export function buildPrompt(data: ChatJobData, turns: StoredTurn[]): ChatMessage[] {
  if (data.kind === 'openai') return openAiPrompt(data).messages;
  const history: ChatMessage[] = [];
  for (const t of turns) {
    if (t.turn >= data.turn) continue;
    if (t.user !== null) history.push({ role: 'user', content: t.user });
    history.push({ role: 'assistant', content: t.assistant });
  }
  return buildChatMessages({ system: systemPromptOf(data), history, userMessage: data.message });
}

/**
 * A `/v1` caller's messages, fitted to the chat template without moving an instruction (see
 * fitClientMessages); a stored character's role-play prompt goes first. `continueFinal`: the caller
 * ended with an assistant message to be continued.
 */
export function openAiPrompt(data: ChatJobData): ClientPrompt {
  const given = (data.messages ?? []) as ClientMessage[];
  const withCharacter: ClientMessage[] = data.character.id
    ? [{ role: 'system', content: systemPromptOf(data) }, ...given]
    : given;
  return fitClientMessages(withCharacter);
}
