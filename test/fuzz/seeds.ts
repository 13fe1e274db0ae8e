import type { Json } from './bodies.js';
import type { IdRef } from './requests.js';

/**
 * Valid bodies per route, written by hand: schemas alone rarely satisfy the rules behind them (a user
 * message in `messages`, a format the TTS engine makes), so these seeds, sent as they are and mutated,
 * carry the fuzz past validation into the handlers.
 */
export function seedBodies(ids: Record<IdRef, string>): Record<string, Json[]> {
  const user = { role: 'user', content: '안녕하세요' };
  return {
    'POST /chat/jobs': [
      { message: '안녕' },
      { message: 'hi', conversation_id: ids.conversation, temperature: 0.2, max_tokens: 8 },
      { message: '같이 놀자', character_id: ids.character, tts: true, tts_mode: 'on_click', voice_id: 'ko' },
      {
        message: 'x',
        scenario: { opponent: 'o', situation: 's', background: 'b' },
        persona: 'p',
        greeting: 'g',
      },
    ],
    'POST /v1/chat/completions': [
      { model: 'm', messages: [user] },
      {
        messages: [{ role: 'system', content: 'be brief' }, user],
        stream: true,
        stream_options: { include_usage: true },
      },
      {
        messages: [user, { role: 'assistant', content: 'hi' }, user],
        max_tokens: 4,
        stop: ['.'],
        seed: 1,
        n: 1,
      },
      {
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
        character_id: ids.character,
        user: 'u',
      },
    ],
    'POST /v1/audio/speech': [
      { input: '안녕하세요', voice: 'ko' },
      { model: 'tts-1', input: 'hello', voice: 'ko', response_format: 'wav', speed: 1.5 },
    ],
    'POST /characters': [{ name: '미나', persona: '친절해요', voice_id: 'ko', greeting: '안녕!' }],
    'PATCH /characters/:id': [{ name: '새 이름' }, { voice_id: null, greeting: null }],
    'POST /characters/import': [
      {
        spec: 'chara_card_v2',
        spec_version: '2.0',
        data: { name: 'Seraphina', description: 'd', first_mes: 'hi' },
      },
      { name: 'V1 card', description: 'd', personality: 'p', scenario: 's', first_mes: 'm' },
      // Texts that made regexes quadratic: blank lines under a multiline `^\s*<START>`, and friends.
      { name: 'Blank', description: 'd', mes_example: `x\n${'\n'.repeat(199_996)}y` },
      { name: 'Starts', description: 'd', mes_example: '<START>\n \n'.repeat(20_000) },
      { name: 'Braces', description: `{{${' '.repeat(100_000)}`, first_mes: `<${'{'.repeat(50_000)}` },
    ],
    'PATCH /conversations/:id': [{ title: '카페 이야기' }],
    'PUT /conversations/:id/messages/:index': [
      { selected: 0 },
      { content: '고친 말' },
      { selected: 1, content: 'x' },
    ],
    'POST /conversations/:id/regenerate': [{}, { max_tokens: 4, temperature: 0.1 }],
    'POST /auth/login': [{ username: 'fuzzadmin', password: 'wrong password' }],
    'POST /auth/register': [
      { username: 'someone_new', password: 'long enough password' },
      // A name on ADMIN_USERS, in another case: refused, never an admin.
      { username: 'FuzzAdmin', password: 'long enough password' },
    ],
    'POST /auth/guest': [{}, { token: true }],
    'POST /auth/api-keys': [{ name: 'fuzz key' }],
    'PUT /admin/users/:id/weight': [{ weight: 2 }],
  };
}
