import {
  type CardBook,
  CHARACTER_LIMITS,
  CharacterCard,
  type CharacterInput,
  GatewayError,
  LOREBOOK_LIMITS,
  Lorebook,
} from '@gateway/contracts';
import { cardToCharacter, expandMacros, fieldsOf } from './card.js';
import { cardFromPng } from './png-card.js';

/**
 * `POST /characters/import`: a SillyTavern card (V1 flat, V2 or V3 under `data`) as parsed JSON, or the
 * PNG file that carries it. Besides name, persona and greeting, it keeps the card's
 * `alternate_greetings` and its `character_book` (lorebook).
 */
export function importCard(body: unknown): CharacterInput {
  const raw = Buffer.isBuffer(body) ? cardFromPng(body) : body;
  const parsed = CharacterCard.safeParse(raw);
  if (!parsed.success) {
    const details = parsed.error.issues.map((i) => ({
      field: ['body', ...i.path.map(String)].join('.'),
      message: i.message,
    }));
    throw new GatewayError('invalid_input', `not a character card: ${details[0]?.field ?? 'body'}`, {
      details,
    });
  }
  const card = parsed.data;
  const base = cardToCharacter(card);
  const f = fieldsOf(card);
  const alternates = (f.alternate_greetings ?? [])
    .map((g) => expandMacros(g, base.name))
    .filter((g) => g.length > 0);
  return {
    ...base,
    alternate_greetings: bounded(alternates),
    lorebook: lorebookOf(f.character_book, base.name),
  };
}

function bounded(greetings: string[]): string[] {
  const out = greetings.slice(0, CHARACTER_LIMITS.alternateGreetings);
  if (out.some((g) => g.length > CHARACTER_LIMITS.greeting)) {
    throw new GatewayError(
      'payload_too_large',
      `an alternate greeting may be at most ${CHARACTER_LIMITS.greeting} characters`,
    );
  }
  return out;
}

/**
 * The card's lorebook as we keep it: enabled and disabled entries alike (a disabled one never joins the
 * prompt, but a user may enable it later), empty ones left out, keys trimmed. Too big a book is refused
 * with the limit it broke rather than cut silently.
 */
function lorebookOf(book: CardBook | null | undefined, name: string): Lorebook | null {
  const entries = (book?.entries ?? [])
    .map((e) => ({
      keys: (e.keys ?? []).map((k) => k.trim()).filter(Boolean),
      secondary_keys: (e.secondary_keys ?? []).map((k) => k.trim()).filter(Boolean),
      content: expandMacros(e.content ?? '', name),
      enabled: e.enabled ?? true,
      insertion_order: e.insertion_order ?? 100,
      constant: e.constant ?? false,
      selective: e.selective ?? false,
      case_sensitive: e.case_sensitive ?? false,
    }))
    .filter((e) => e.content.length > 0 && (e.constant || e.keys.length > 0));
  if (entries.length === 0) return null;
  const clamp = (v: number | null | undefined, max: number) =>
    typeof v === 'number' && v >= 0 ? Math.min(Math.floor(v), max) : null;
  const parsed = Lorebook.safeParse({
    scan_depth: clamp(book?.scan_depth, LOREBOOK_LIMITS.maxScanDepth),
    token_budget: clamp(book?.token_budget, LOREBOOK_LIMITS.maxTokenBudget),
    entries,
  });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new GatewayError(
    'payload_too_large',
    `the card's lorebook is too large: ${issue?.path.join('.') || 'entries'} ${issue?.message ?? ''}`.trim(),
    {
      details: {
        limits: LOREBOOK_LIMITS,
        issues: parsed.error.issues
          .slice(0, 10)
          .map((i) => ({ field: i.path.join('.'), message: i.message })),
      },
    },
  );
}
