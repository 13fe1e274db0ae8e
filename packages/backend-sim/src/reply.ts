// Deterministic replies: the text depends only on the last user message, so a test can compute
// what the sim will say. Each piece is one "token" on the wire.

import type { ReplyStyle, SimMessage } from './types.js';

// Openers are Korean so every non-empty reply carries multi-byte UTF-8 from its first piece
// (what tests of chunk boundaries and byte-level reassembly need).
const OPENERS: readonly (readonly string[])[] = [
  ['안녕하세요', '!', ' Nice', ' to', ' meet', ' you', '.'],
  ['반가워요', '!', ' How', ' are', ' you', '?'],
  ['좋아요', ',', ' let', "'s", ' talk', '.'],
  ['네', ',', ' 알겠어요', '.'],
  ['음', '...', ' 그렇군요', '.'],
];

const SENTENCES: readonly (readonly string[])[] = [
  [' 오늘', ' 기분은', ' 어때요', '?'],
  [' I', "'m", ' here', ' for', ' you', '.'],
  [' 좋은', ' 하루', ' 보내세요', '.'],
  [' That', ' sounds', ' interesting', '!'],
  [' 더', ' 이야기해', ' 주세요', '.'],
  [' 정말', ' 재미있네요', '.'],
  [' Tell', ' me', ' more', ' about', ' it', '.'],
  [' 저도', ' 그렇게', ' 생각해요', '.'],
  [' What', ' happened', ' next', '?'],
  [' 천천히', ' 말해도', ' 괜찮아요', '.'],
];

// Role-play replies (replyStyle `roleplay`): longer sentences, 11-14 tokens each, English and Korean.
const ROLEPLAY_OPENERS: readonly (readonly string[])[] = [
  [
    'I',
    ' have',
    ' been',
    ' waiting',
    ' for',
    ' you',
    ' by',
    ' the',
    ' old',
    ' stone',
    ' bridge',
    ' all',
    ' evening',
    '.',
  ],
  [
    'The',
    ' rain',
    ' has',
    ' not',
    ' stopped',
    ' since',
    ' the',
    ' sun',
    ' went',
    ' down',
    ' behind',
    ' the',
    ' hills',
    '.',
  ],
  [
    '오늘',
    ' 밤은',
    ' 유난히',
    ' 조용하네요',
    ',',
    ' 당신이',
    ' 돌아와서',
    ' 정말',
    ' 다행이에요',
    ',',
    ' 정말로',
    '.',
  ],
];
const ROLEPLAY_SENTENCES: readonly (readonly string[])[] = [
  [' Come', ' closer', ',', ' and', ' tell', ' me', ' what', ' you', ' saw', ' in', ' the', ' village', '?'],
  [' My', ' lantern', ' is', ' almost', ' out', ' of', ' oil', ',', ' so', ' we', ' should', ' hurry', '.'],
  [
    ' 저는',
    ' 하루',
    ' 종일',
    ' 이',
    ' 창가에',
    ' 앉아서',
    ' 당신을',
    ' 기다리고',
    ' 있었어요',
    ',',
    ' 정말',
    '.',
  ],
  [
    ' Nobody',
    ' in',
    ' this',
    ' town',
    ' has',
    ' ever',
    ' asked',
    ' me',
    ' that',
    ' question',
    ' before',
    '.',
  ],
  [
    ' The',
    ' merchant',
    ' said',
    ' the',
    ' road',
    ' north',
    ' is',
    ' closed',
    ' until',
    ' the',
    ' spring',
    ' thaw',
    '.',
  ],
  [' 그', ' 이야기를', ' 들으니', ' 마음이', ' 조금', ' 놓이네요', ',', ' 고마워요', ',', ' 정말로', '.'],
  [
    ' If',
    ' you',
    ' listen',
    ' carefully',
    ',',
    ' you',
    ' can',
    ' hear',
    ' the',
    ' river',
    ' from',
    ' here',
    '.',
  ],
  [' I', ' kept', ' a', ' warm', ' seat', ' by', ' the', ' fire', ' for', ' you', ' tonight', '.'],
];

/** FNV-1a over UTF-16 code units: cheap and stable across runs and platforms. */
export function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function lastUserContent(messages: readonly SimMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m && m.role === 'user') return m.content;
  }
  return '';
}

export interface SimReply {
  pieces: string[];
  finishReason: 'stop' | 'length';
}

/**
 * The reply to `messages`: min(replyTokens, maxTokens) pieces; 'length' when maxTokens cut it.
 * The concatenated pieces are the reply text.
 */
export function simReply(
  messages: readonly SimMessage[],
  maxTokens: number,
  replyTokens = 24,
  style: ReplyStyle = 'chat',
): SimReply {
  const [openers, sentences] =
    style === 'roleplay' ? [ROLEPLAY_OPENERS, ROLEPLAY_SENTENCES] : [OPENERS, SENTENCES];
  const want = Math.max(0, Math.min(replyTokens, maxTokens));
  const pieces: string[] = [];
  let h = hashText(lastUserContent(messages));
  let sentence = openers[h % openers.length]!;
  let last = -1;
  while (pieces.length < want) {
    for (const p of sentence) {
      if (pieces.length >= want) break;
      pieces.push(p);
    }
    // xorshift32 walks the sentence bank; different prompts diverge after the opener.
    h ^= h << 13;
    h ^= h >>> 17;
    h ^= h << 5;
    h >>>= 0;
    let next = h % sentences.length;
    if (next === last) next = (next + 1) % sentences.length; // no sentence twice in a row
    last = next;
    sentence = sentences[next]!;
  }
  return { pieces, finishReason: maxTokens < replyTokens ? 'length' : 'stop' };
}
