import {
  type CardFields,
  CHARACTER_LIMITS,
  type CharacterCard,
  type CharacterInput,
  GatewayError,
} from '@gateway/contracts';

/**
 * `{{user}}` stays a macro in the stored character: the prompt builder puts in the name of whoever
 * chats with it (see packages/prompt macros.ts).
 */
const USER_WORD = '{{user}}';

/** SillyTavern's macros: `{{char}}`/`<BOT>` is the character, `{{user}}`/`<USER>` the person chatting. */
export function expandMacros(text: string, name: string): string {
  return text
    .replace(/\{\{\s*char\s*\}\}|<BOT>/gi, name)
    .replace(/\{\{\s*user\s*\}\}|<USER>/gi, USER_WORD)
    .replace(/\{\{\s*original\s*\}\}/gi, '')
    .replace(/\r\n?/g, '\n')
    .trim();
}

/**
 * Example chats are separated by `<START>` lines; they become plain blocks. A line-by-line scan, not a
 * multiline regex: `^\s*<START>` retried at every line start runs over every following blank line, which
 * made a card of 200,000 newlines take minutes (quadratic). Every regex left here is linear.
 */
function examples(text: string): string {
  const blocks: string[] = [];
  let block: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim().toUpperCase() === '<START>') {
      blocks.push(block.join('\n'));
      block = [];
    } else block.push(line);
  }
  blocks.push(block.join('\n'));
  return blocks
    .map((s) => s.trim())
    .filter(Boolean)
    .join('\n\n');
}

/** What the card's text fields give; its lorebook and alternative greetings: card-import.ts. */
export type CardCharacter = Omit<CharacterInput, 'alternate_greetings' | 'lorebook'>;

export const fieldsOf = (card: CharacterCard): CardFields => ('data' in card ? card.data : card);

/**
 * A SillyTavern character card (V2/V3 under `data`, or a V1 flat card) as our character: the persona
 * joins description, personality, scenario, the card's system prompt and its example dialogue, each
 * labelled; the greeting is `first_mes`. When the whole is longer than a persona may be, the example
 * dialogue (the least essential part) is dropped before the import is refused.
 */
export function cardToCharacter(card: CharacterCard): CardCharacter {
  const f = fieldsOf(card);
  const name = (f.name ?? '').trim().slice(0, CHARACTER_LIMITS.name);
  if (!name) {
    throw new GatewayError('invalid_input', 'the card has no name', {
      details: [{ field: 'body.data.name', message: 'is required' }],
    });
  }
  const text = (v: string | null | undefined) => expandMacros(v ?? '', name);
  const sections = [
    text(f.description),
    labelled('Personality', text(f.personality)),
    labelled('Scenario', text(f.scenario)),
    labelled(
      'Instructions',
      [text(f.system_prompt), text(f.post_history_instructions)].filter(Boolean).join('\n'),
    ),
  ].filter(Boolean);
  const dialogue = labelled('Example dialogue', examples(text(f.mes_example)));
  const full = [...sections, dialogue].filter(Boolean).join('\n\n');
  const persona = full.length <= CHARACTER_LIMITS.persona ? full : sections.join('\n\n');
  if (persona.length > CHARACTER_LIMITS.persona) {
    throw new GatewayError(
      'payload_too_large',
      `the card's description, personality, scenario and instructions add up to ${persona.length} characters; a persona holds at most ${CHARACTER_LIMITS.persona}`,
      { details: { length: persona.length, limit: CHARACTER_LIMITS.persona } },
    );
  }
  const greeting = text(f.first_mes).slice(0, CHARACTER_LIMITS.greeting) || null;
  return { name, persona, voice_id: null, greeting };
}

const labelled = (label: string, body: string) => (body ? `${label}:\n${body}` : '');
