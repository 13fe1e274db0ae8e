import type { ChatJobData } from '@gateway/contracts';
import { formatLore, type MacroNames, selectLore } from '@gateway/prompt';

/** Fallbacks for a job submitted before the api filled in the server's lorebook settings. */
const DEFAULT_SCAN_DEPTH = 4;
const DEFAULT_TOKEN_BUDGET = 512;

/** The lorebook text this turn brings in (the character's entries whose keys the recent messages name). */
export function loreFor(data: ChatJobData, messagesNewestLast: string[]): string {
  const book = data.character.lorebook;
  if (!book || book.entries.length === 0) return '';
  const chosen = selectLore(book.entries, messagesNewestLast, {
    scanDepth: book.scan_depth ?? DEFAULT_SCAN_DEPTH,
    tokenBudget: book.token_budget ?? DEFAULT_TOKEN_BUDGET,
  });
  return formatLore(chosen);
}

/** Who `{{char}}` and `{{user}}` are in this job's prompt. */
export const macroNamesOf = (data: ChatJobData): MacroNames => ({
  char: data.character.name,
  user: data.user_name ?? null,
});
