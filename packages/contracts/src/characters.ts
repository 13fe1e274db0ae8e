import { z } from 'zod';

/** Stored characters and accounts (see ../shared/API.md, "Conversations, characters, models" and "Auth"). */

export const CHARACTER_LIMITS = {
  name: 200,
  persona: 16_000,
  greeting: 4_000,
  voiceId: 200,
  /** Characters one user may keep. */
  perUser: 200,
  /** Bytes of an imported character card (JSON), also of the JSON inside a PNG card. */
  cardBytes: 1024 * 1024,
  /** Bytes of an imported PNG card (the image with the card in a text chunk). */
  pngBytes: 8 * 1024 * 1024,
  /** Alternative greetings (SillyTavern `alternate_greetings`) one character keeps. */
  alternateGreetings: 32,
} as const;

/** A character's lorebook (SillyTavern `character_book`): bounded, because it travels with every job. */
export const LOREBOOK_LIMITS = {
  entries: 256,
  keysPerEntry: 32,
  keyLength: 100,
  /** Keys (primary and secondary) over all entries: matching costs about keys x scanned text. */
  totalKeys: 1_024,
  entryContent: 8_000,
  /** Characters of content over all entries. */
  totalContent: 64_000,
  maxScanDepth: 100,
  maxTokenBudget: 32_768,
} as const;

const name = z.string().trim().min(1, 'must not be empty').max(CHARACTER_LIMITS.name);
const persona = z.string().max(CHARACTER_LIMITS.persona);
const voiceId = z.string().trim().min(1).max(CHARACTER_LIMITS.voiceId).nullable();
const greeting = z.string().max(CHARACTER_LIMITS.greeting).nullable();
const alternateGreetings = z
  .array(z.string().max(CHARACTER_LIMITS.greeting))
  .max(CHARACTER_LIMITS.alternateGreetings);

const loreKeys = z.array(z.string().max(LOREBOOK_LIMITS.keyLength)).max(LOREBOOK_LIMITS.keysPerEntry);

/**
 * One lorebook entry as we keep it: its content joins the prompt when one of `keys` appears in the
 * recent messages (and, when `selective`, also one of `secondary_keys`); `constant` entries always do.
 */
export const LoreEntry = z
  .object({
    keys: loreKeys.default([]),
    secondary_keys: loreKeys.default([]),
    content: z.string().max(LOREBOOK_LIMITS.entryContent),
    enabled: z.boolean().default(true),
    insertion_order: z.number().finite().default(100),
    constant: z.boolean().default(false),
    selective: z.boolean().default(false),
    case_sensitive: z.boolean().default(false),
  })
  .strict();
export type LoreEntry = z.infer<typeof LoreEntry>;

export const Lorebook = z
  .object({
    /** Messages scanned for keys (newest first); null: the server's LOREBOOK_SCAN_DEPTH. */
    scan_depth: z.number().int().min(0).max(LOREBOOK_LIMITS.maxScanDepth).nullable().default(null),
    /** Most tokens the entries may add to the prompt; null: the server's LOREBOOK_TOKEN_BUDGET. */
    token_budget: z.number().int().min(0).max(LOREBOOK_LIMITS.maxTokenBudget).nullable().default(null),
    entries: z.array(LoreEntry).max(LOREBOOK_LIMITS.entries),
  })
  .strict()
  .refine((b) => b.entries.reduce((n, e) => n + e.content.length, 0) <= LOREBOOK_LIMITS.totalContent, {
    message: `the entries' content may add up to at most ${LOREBOOK_LIMITS.totalContent} characters`,
  })
  .refine(
    (b) =>
      b.entries.reduce((n, e) => n + e.keys.length + e.secondary_keys.length, 0) <= LOREBOOK_LIMITS.totalKeys,
    { message: `the entries may have at most ${LOREBOOK_LIMITS.totalKeys} keys together` },
  );
export type Lorebook = z.infer<typeof Lorebook>;

export const CharacterInput = z
  .object({
    name,
    persona: persona.default(''),
    voice_id: voiceId.default(null),
    greeting: greeting.default(null),
    alternate_greetings: alternateGreetings.default([]),
    lorebook: Lorebook.nullable().default(null),
  })
  .strict();
export type CharacterInput = z.infer<typeof CharacterInput>;

export const CharacterPatch = z
  .object({
    name,
    persona,
    voice_id: voiceId,
    greeting,
    alternate_greetings: alternateGreetings,
    lorebook: Lorebook.nullable(),
  })
  .partial()
  .strict()
  .refine((p) => Object.keys(p).length > 0, 'name at least one field to change');
export type CharacterPatch = z.infer<typeof CharacterPatch>;

export const Character = z.object({
  id: z.string(),
  name: z.string(),
  persona: z.string(),
  voice_id: z.string().nullable(),
  greeting: z.string().nullable(),
  alternate_greetings: z.array(z.string()),
  /** Left out of GET /characters (the list); GET /characters/{id} has it. */
  lorebook: Lorebook.nullable().optional(),
  lorebook_entries: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type Character = z.infer<typeof Character>;

export const CharacterList = z.object({ characters: z.array(Character) });
export type CharacterList = z.infer<typeof CharacterList>;

const cardText = z.string().max(200_000).nullish();

/** A `character_book` entry as SillyTavern writes it (V2/V3); fields we do not use are ignored. */
const CardBookEntry = z.object({
  keys: z.array(z.string().max(10_000)).max(1_000).nullish(),
  secondary_keys: z.array(z.string().max(10_000)).max(1_000).nullish(),
  content: z.string().max(200_000).nullish(),
  enabled: z.boolean().nullish(),
  insertion_order: z.number().finite().nullish(),
  constant: z.boolean().nullish(),
  selective: z.boolean().nullish(),
  case_sensitive: z.boolean().nullish(),
});
export type CardBookEntry = z.infer<typeof CardBookEntry>;

const CardBook = z.object({
  scan_depth: z.number().finite().nullish(),
  token_budget: z.number().finite().nullish(),
  entries: z.array(CardBookEntry).max(10_000).nullish(),
});
export type CardBook = z.infer<typeof CardBook>;

/** The fields of a SillyTavern character card that we use (V1 flat, or V2/V3 under `data`); others are ignored. */
export const CardFields = z.object({
  name: z.string().max(1_000).nullish(),
  description: cardText,
  personality: cardText,
  scenario: cardText,
  first_mes: cardText,
  mes_example: cardText,
  system_prompt: cardText,
  post_history_instructions: cardText,
  alternate_greetings: z
    .array(z.string().max(CHARACTER_LIMITS.greeting * 4))
    .max(1_000)
    .nullish(),
  character_book: CardBook.nullish(),
});
export type CardFields = z.infer<typeof CardFields>;

export const CharacterCard = z.union([
  z.object({
    spec: z.enum(['chara_card_v2', 'chara_card_v3']),
    spec_version: z.string().max(20).optional(),
    data: CardFields,
  }),
  CardFields.extend({ spec: z.undefined().optional() }),
]);
export type CharacterCard = z.infer<typeof CharacterCard>;

export const Credentials = z
  .object({
    username: z.string().trim().min(1, 'must not be empty').max(64),
    password: z.string().min(1, 'must not be empty').max(1_024),
    /** Also return the session token in the body (for programs that send `Authorization: Bearer`). */
    token: z.boolean().optional(),
  })
  .strict();
export type Credentials = z.infer<typeof Credentials>;

export const USERNAME_RULE = /^[\p{L}\p{N}_.-]{3,32}$/u;

export const Registration = Credentials.extend({
  username: z
    .string()
    .trim()
    .normalize('NFKC')
    .regex(USERNAME_RULE, 'must be 3-32 letters, digits, _ . or -')
    .refine((u) => !u.toLowerCase().startsWith('guest-'), 'names starting with guest- are reserved'),
  password: z.string().min(8, 'must be at least 8 characters').max(1_024),
}).strict();
export type Registration = z.infer<typeof Registration>;

export const UserView = z.object({ id: z.string(), username: z.string(), guest: z.boolean() });
export type UserView = z.infer<typeof UserView>;

export const SessionView = z.object({
  user: UserView,
  /** Only when asked for with `"token": true`. */
  token: z.string().optional(),
  expires_at: z.string().optional(),
});
export type SessionView = z.infer<typeof SessionView>;
