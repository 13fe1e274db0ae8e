import type { ChatJobData } from '@gateway/contracts';
import {
  buildChatMessages,
  type ChatMessage,
  expandMacros,
  expandMacrosIn,
  formatPersonaForRoleplay,
  normalizeForGemma,
} from '@gateway/prompt';
import type { StoredTurn } from '@gateway/queue';
import { loreFor, macroNamesOf } from './lore.js';

/**
 * The role-play system prompt of a job: its persona override wins over the character's; the lorebook
 * entries this turn brings in (lore.ts) follow the persona. `{{char}}`/`{{user}}` filled in.
 */
export function systemPromptOf(data: ChatJobData, lore = ''): string {
  const persona = [data.persona ?? data.character.persona ?? '', lore].filter(Boolean).join('\n\n');
  const system = formatPersonaForRoleplay({
    characterName: data.character.name,
    persona,
    scenario: data.scenario,
  });
  return expandMacros(system, macroNamesOf(data));
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
  const lore = loreFor(data, [...history.map((m) => m.content), data.message]);
  const messages = buildChatMessages({
    system: systemPromptOf(data, lore),
    history,
    userMessage: data.message,
  });
  return expandMacrosIn(messages, macroNamesOf(data));
}
