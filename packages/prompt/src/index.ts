export {
  type ClientMessage,
  type ClientPrompt,
  droppedCallerMessages,
  fitClientMessages,
} from './client-prompt.js';
export { type FitOptions, type FitResult, fitToContext, type TokenCounter } from './fit.js';
export { formatLore, type LoreEntry, type LoreOptions, selectLore, withLoreDefaults } from './lorebook.js';
export { expandMacros, expandMacrosIn, type MacroNames } from './macros.js';
export {
  buildChatMessages,
  type ChatMessage,
  type ChatRole,
  NEUTRAL_OPENING,
  normalizeForGemma,
} from './messages.js';
export { formatPersonaForRoleplay, type PersonaInput, type Scenario } from './persona.js';
export { estimateContentTokens, estimateMessageTokens, estimateTokens } from './tokens.js';
