import type { ChatMessage } from './messages.js';

export interface MacroNames {
  /** The character's name; null leaves `{{char}}` as written. */
  char: string | null;
  /** The user's display name; null leaves `{{user}}` as written. */
  user: string | null;
}

// SillyTavern's macros, any case, spaces allowed inside the braces; `<BOT>` / `<USER>` are the old forms.
// No nested quantifiers: one pass, linear in the text.
const MACRO = /\{\{\s*(char|user)\s*\}\}|<(bot|user)>/gi;

/**
 * Puts the character's and the user's names in for `{{char}}` and `{{user}}`. A replacement function
 * (not a replacement string) so that a name containing `$&` stays as written.
 */
export function expandMacros(text: string, names: MacroNames): string {
  return text.replace(MACRO, (whole, braced: string | undefined, angled: string | undefined) => {
    const which = (braced ?? angled ?? '').toLowerCase();
    const name = which === 'char' || which === 'bot' ? names.char : names.user;
    return name ?? whole;
  });
}

/** The same for every message of a prompt. */
export function expandMacrosIn(messages: ChatMessage[], names: MacroNames): ChatMessage[] {
  return messages.map((m) => ({ role: m.role, content: expandMacros(m.content, names) }));
}
