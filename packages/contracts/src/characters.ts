import { z } from 'zod';

/** Stored characters and accounts (see ../shared/API.md, "Conversations, characters, models" and "Auth"). */

export const CHARACTER_LIMITS = {
  name: 200,
  persona: 16_000,
  greeting: 4_000,
  voiceId: 200,
  /** Characters one user may keep. */
  perUser: 200,
  /** Bytes of an imported character card (JSON). */
  cardBytes: 1024 * 1024,
} as const;

const name = z.string().trim().min(1, 'must not be empty').max(CHARACTER_LIMITS.name);
const persona = z.string().max(CHARACTER_LIMITS.persona);
const voiceId = z.string().trim().min(1).max(CHARACTER_LIMITS.voiceId).nullable();
const greeting = z.string().max(CHARACTER_LIMITS.greeting).nullable();

export const CharacterInput = z
  .object({
    name,
    persona: persona.default(''),
    voice_id: voiceId.default(null),
    greeting: greeting.default(null),
  })
  .strict();
export type CharacterInput = z.infer<typeof CharacterInput>;

export const CharacterPatch = z
  .object({ name, persona, voice_id: voiceId, greeting })
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
  created_at: z.string(),
  updated_at: z.string(),
});
export type Character = z.infer<typeof Character>;

export const CharacterList = z.object({ characters: z.array(Character) });
export type CharacterList = z.infer<typeof CharacterList>;

const cardText = z.string().max(200_000).nullish();

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
