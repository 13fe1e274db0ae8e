/** The shapes the chat screen passes between its hooks and components. */
import type { Character, Scenario, TtsInfo } from '@gateway/contracts';
import type { TextKey } from '../i18n.js';
import type { ReplyState } from '../reply-state.js';

/** What the chat pane shows: a character and, once the first message is accepted, its conversation. */
export interface ChatSession {
  key: string;
  character: Character | null;
  characterId: string | null;
  characterName: string;
  conversationId: string | null;
  scenario: Scenario;
}

/** One finished message in the log. */
export interface Msg {
  key: string;
  role: 'user' | 'assistant';
  content: string;
  jobId: string | null;
  tts: TtsInfo | null;
  autoplay: boolean;
  /** A message whose reply failed or was stopped: shown with a retry button. */
  unanswered?: { phase: 'failed' | 'cancelled'; error: string | null };
  /** Set once the message was read back from the api: where it is stored, and its alternatives. */
  stored?: StoredPlace;
}

export interface StoredPlace {
  index: number;
  alternatives: string[];
  selected: number;
}

/** The turn in flight: the message sent and the reply being written. */
export interface Live {
  userText: string;
  reply: ReplyState;
  /** The last reply is being generated again: no new message of the person's. */
  regenerate?: boolean | undefined;
}

/** A submission the api could not take yet (429, 503, offline): sent again at `until`. */
export interface Wait {
  reason: Extract<TextKey, 'tooMany' | 'notReady' | 'offline'>;
  until: number;
}
