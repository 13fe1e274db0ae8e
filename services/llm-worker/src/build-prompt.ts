import type { ChatJobData } from '@gateway/contracts';
import {
  buildChatMessages,
  type ChatMessage,
  formatPersonaForRoleplay,
  normalizeForGemma,
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
  if (data.kind === 'openai') {
    const given = (data.messages ?? []) as ChatMessage[];
    const withCharacter: ChatMessage[] = data.character.id
      ? [{ role: 'system', content: systemPromptOf(data) }, ...given]
      : given;
    return normalizeForGemma(withCharacter);
  }
  const history: ChatMessage[] = [];
  for (const t of turns) {
    if (t.turn >= data.turn) continue;
    if (t.user !== null) history.push({ role: 'user', content: t.user });
    history.push({ role: 'assistant', content: t.assistant });
  }
  return buildChatMessages({ system: systemPromptOf(data), history, userMessage: data.message });
}
