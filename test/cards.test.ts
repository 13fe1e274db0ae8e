import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { Character, ChatJobAccepted, ChatJobView, ConversationView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSession, type TestSession } from './support/auth.js';
import { call, waitFor } from './support/http.js';
import { base64Json, buildPng, pngChunk } from './support/png-card.js';
import { type Stack, startStack } from './support/stack.js';

type Msg = { role: string; content: string };
type ErrorBody = { error: { code: string; message: string } };

let stack: Stack;
let me: TestSession;
const username = `reader_${randomUUID().slice(0, 8)}`;

const v2Card = (over: Record<string, unknown> = {}) => ({
  spec: 'chara_card_v2',
  spec_version: '2.0',
  data: {
    name: 'Seraphina',
    description: '{{char}} guards the forest and calls {{user}} "traveller".',
    first_mes: 'Welcome, {{user}}.',
    alternate_greetings: ['Back again, {{user}}?'],
    ...over,
  },
});
const v3Card = {
  spec: 'chara_card_v3',
  spec_version: '3.0',
  data: { name: 'Rin V3', description: 'a V3 card', first_mes: 'hi' },
};

const importPng = (png: Buffer) =>
  fetch(`${stack.apiUrl}/characters/import`, {
    method: 'POST',
    headers: { ...me.headers, 'content-type': 'image/png' },
    body: png,
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as Character & ErrorBody }));

const importJson = (card: unknown) =>
  call<Character & ErrorBody>(`${stack.apiUrl}/characters/import`, { body: card, headers: me.headers });

function statusOfUpload(body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${stack.apiUrl}/characters/import`, {
      method: 'POST',
      headers: { ...me.headers, 'content-type': 'image/png', 'content-length': String(body.length) },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', (err) => setTimeout(() => reject(err), 1_000)); // EPIPE after the answer is fine
    // Headers and a first piece only: the api must answer from Content-Length, before the body. Sending
    // all 9 MiB raced the api's close of the socket, and an EPIPE could come before the answer was read.
    req.write(body.subarray(0, 64 * 1024));
  });
}

const sentMessages = () =>
  stack.sim
    .requests()
    .filter((r) => r.path.endsWith('/chat'))
    .map((r) => (r.body as { messages: Msg[] }).messages);

async function turn(body: Record<string, unknown>): Promise<ChatJobAccepted> {
  const res = await call<ChatJobAccepted>(`${stack.apiUrl}/chat/jobs`, { body, headers: me.headers });
  expect(res.status).toBe(202);
  const view = await waitFor(
    () => call<ChatJobView>(`${stack.apiUrl}/chat/jobs/${res.body.job_id}`, { headers: me.headers }),
    (r) => ['completed', 'failed', 'cancelled'].includes(r.body.status),
  );
  expect(view.body.status).toBe('completed');
  return res.body;
}

beforeAll(async () => {
  stack = await startStack({ kind: 'ollama' });
  me = await registerSession(stack.apiUrl, username, 'a long enough password');
});
afterAll(() => stack.stop());

describe('POST /characters/import with PNG cards', () => {
  it('reads a V2 card from a tEXt chunk and keeps alternate greetings', async () => {
    const res = await importPng(buildPng([{ kind: 'tEXt', keyword: 'chara', text: base64Json(v2Card()) }]));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'Seraphina',
      greeting: 'Welcome, {{user}}.',
      alternate_greetings: ['Back again, {{user}}?'],
    });
    expect(res.body.persona).toContain('Seraphina guards the forest');
    const stored = await call<Character>(`${stack.apiUrl}/characters/${res.body.id}`, {
      headers: me.headers,
    });
    expect(stored.body.alternate_greetings).toEqual(['Back again, {{user}}?']);
  });

  it('prefers the ccv3 chunk over chara, from zTXt and iTXt chunks too', async () => {
    const chara = { kind: 'tEXt', keyword: 'chara', text: base64Json(v2Card()) } as const;
    for (const ccv3 of [
      { kind: 'zTXt', keyword: 'ccv3', text: base64Json(v3Card) },
      { kind: 'iTXt', keyword: 'ccv3', text: base64Json(v3Card), compressed: true },
      { kind: 'iTXt', keyword: 'ccv3', text: base64Json(v3Card) },
    ] as const) {
      const res = await importPng(buildPng([chara, ccv3]));
      expect(res.status).toBe(201);
      expect(res.body.name).toBe('Rin V3');
    }
  });

  it('takes V1, V2 and V3 JSON cards', async () => {
    const v1 = await importJson({ name: 'V1 card', description: 'flat card', first_mes: 'yo' });
    expect(v1.status).toBe(201);
    expect(v1.body).toMatchObject({ name: 'V1 card', persona: 'flat card', greeting: 'yo' });
    const v2 = await importJson(v2Card());
    expect(v2.status).toBe(201);
    expect(v2.body.alternate_greetings).toEqual(['Back again, {{user}}?']);
    const v3 = await importJson(v3Card);
    expect(v3.status).toBe(201);
    expect(v3.body.name).toBe('Rin V3');
  });

  it('refuses PNGs without a card (400), too big (413), and compressed bombs (413)', async () => {
    const noCard = await importPng(buildPng([{ kind: 'tEXt', keyword: 'Comment', text: 'hello' }]));
    expect(noCard.status).toBe(400);
    expect(noCard.body.error.code).toBe('invalid_input');
    const notPng = await importPng(Buffer.from('GIF89a not a png'));
    expect(notPng.status).toBe(400);
    // The server answers 413 from Content-Length, before the body: read the answer with node:http.
    const huge = Buffer.concat([buildPng([]), pngChunk('zzZz', Buffer.alloc(9 * 1024 * 1024))]);
    expect(await statusOfUpload(huge)).toBe(413);
    const { deflateSync } = await import('node:zlib');
    const bomb = deflateSync(Buffer.alloc(32 * 1024 * 1024, 0x41));
    const bombed = await importPng(
      buildPng([{ kind: 'raw', type: 'zTXt', data: Buffer.concat([Buffer.from('chara\0\0'), bomb]) }]),
    );
    expect(bombed.status).toBe(413);
    // The api still answers at once afterwards.
    expect((await fetch(`${stack.apiUrl}/health`)).status).toBe(200);
  });
});

describe('an early answer to an import leaves the connection usable', () => {
  // On a keep-alive socket the next request waits until the server has read this one's body; a body
  // the api stopped reading after answering would hold the connection, and the client's next request
  // on it, forever.
  const onOneSocket = async (first: { type: string; body: Buffer }) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const send = (method: string, path: string, headers: Record<string, string>, body?: Buffer) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${stack.apiUrl}${path}`, { method, headers, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${method} ${path} in 10 s`)));
        req.on('error', reject);
        req.end(body);
      });
    try {
      const firstStatus = await send(
        'POST',
        '/characters/import',
        { ...me.headers, 'content-type': first.type, 'content-length': String(first.body.length) },
        first.body,
      );
      const next = await send('GET', '/health', {});
      return { firstStatus, next };
    } finally {
      agent.destroy();
    }
  };

  it('after a 415 for a body type the api does not take', async () => {
    const r = await onOneSocket({ type: 'text/plain', body: Buffer.alloc(400_000, 'a') });
    expect(r).toEqual({ firstStatus: 415, next: 200 });
  });

  it('after a 413 for a JSON card over its cap', async () => {
    const r = await onOneSocket({ type: 'application/json', body: Buffer.alloc(1_500_000, ' ') });
    expect(r).toEqual({ firstStatus: 413, next: 200 });
  });
});

describe('lorebooks and macros in the prompt', () => {
  it('adds matching lorebook entries in insertion order, and puts the names in for {{char}} and {{user}}', async () => {
    const card = v2Card({
      character_book: {
        scan_depth: 2,
        entries: [
          { keys: ['dragon'], content: 'LORE-DRAGON: {{char}} fears dragons.', insertion_order: 20 },
          { keys: ['castle'], content: 'LORE-CASTLE: the castle has nine towers.', insertion_order: 10 },
          { keys: ['sea'], content: 'LORE-SEA: never mentioned.', insertion_order: 5 },
          { keys: ['dragon'], content: 'LORE-OFF: disabled.', enabled: false },
          { keys: [], content: 'LORE-ALWAYS: magic is rare.', constant: true, insertion_order: 30 },
        ],
      },
    });
    const imported = await importJson(card);
    expect(imported.status).toBe(201);
    expect(imported.body.lorebook?.entries).toHaveLength(5);
    const one = await call<Character>(`${stack.apiUrl}/characters/${imported.body.id}`, {
      headers: me.headers,
    });
    expect(one.body.lorebook?.entries.map((e) => e.insertion_order)).toEqual([20, 10, 5, 100, 30]);
    const list = await call<{ characters: Character[] }>(`${stack.apiUrl}/characters`, {
      headers: me.headers,
    });
    const listed = list.body.characters.find((c) => c.id === imported.body.id)!;
    expect(listed.lorebook_entries).toBe(5);
    expect(listed).not.toHaveProperty('lorebook');

    const first = await turn({
      character_id: imported.body.id,
      message: 'Is that a dragon near the castle?',
    });
    const system = sentMessages().at(-1)![0]!;
    expect(system.role).toBe('system');
    const at = (s: string) => system.content.indexOf(s);
    expect(at('LORE-CASTLE')).toBeGreaterThan(-1);
    expect(at('LORE-DRAGON: Seraphina fears dragons.')).toBeGreaterThan(at('LORE-CASTLE'));
    expect(at('LORE-ALWAYS')).toBeGreaterThan(at('LORE-DRAGON'));
    expect(system.content).not.toContain('LORE-SEA');
    expect(system.content).not.toContain('LORE-OFF');
    expect(system.content).toContain(`calls ${username} "traveller"`);
    const everything = sentMessages()
      .at(-1)!
      .map((m) => m.content)
      .join('\n');
    expect(everything).not.toMatch(/\{\{\s*(user|char)\s*\}\}/i);
    expect(everything).not.toMatch(/\bUser\b/);
    expect(everything).toContain(`Welcome, ${username}.`);

    // The greeting stored in the conversation reads with the user's name too.
    const conv = await call<ConversationView>(`${stack.apiUrl}/conversations/${first.conversation_id}`, {
      headers: me.headers,
    });
    expect(conv.body.messages[0]?.content).toBe(`Welcome, ${username}.`);

    // Two messages later the keys have left the scan depth: only the constant entry stays.
    // A later turn that names no character keeps the conversation's (its lorebook included).
    await turn({ conversation_id: first.conversation_id, message: 'Let us talk about bread.' });
    const later = sentMessages().at(-1)![0]!.content;
    expect(later).toContain('LORE-ALWAYS');
    expect(later).toContain('Seraphina guards the forest');
    expect(later).not.toContain('LORE-CASTLE');
    expect(later).not.toContain('LORE-DRAGON');
  });

  it('keeps the entries within the token budget', async () => {
    const filler = 'word '.repeat(200);
    const card = v2Card({
      name: 'Budget',
      character_book: {
        token_budget: 120,
        entries: [
          { keys: ['tea'], content: `LORE-FIRST ${filler}`, insertion_order: 1 },
          { keys: ['tea'], content: 'LORE-SMALL: tea is green.', insertion_order: 2 },
        ],
      },
    });
    const imported = await importJson(card);
    await turn({ character_id: imported.body.id, message: 'Some tea?' });
    const system = sentMessages().at(-1)![0]!.content;
    expect(system).toContain('LORE-SMALL');
    expect(system).not.toContain('LORE-FIRST');
  });

  it('offers the card’s alternate greetings as swipes of a new conversation’s greeting', async () => {
    const imported = await importJson(v2Card({ name: 'Greeter' }));
    const first = await turn({ character_id: imported.body.id, message: 'hello there' });
    const path = `${stack.apiUrl}/conversations/${first.conversation_id}`;
    const conv = await call<ConversationView>(path, { headers: me.headers });
    expect(conv.body.messages[0]).toMatchObject({
      role: 'assistant',
      content: `Welcome, ${username}.`,
      alternatives: [`Welcome, ${username}.`, `Back again, ${username}?`],
      selected: 0,
    });
    const picked = await call<ConversationView>(`${path}/messages/0`, {
      method: 'PUT',
      body: { selected: 1 },
      headers: me.headers,
    });
    expect(picked.status).toBe(200);
    await turn({ conversation_id: first.conversation_id, message: 'and now?' });
    const sent = sentMessages()
      .at(-1)!
      .map((m) => m.content);
    expect(sent).toContain(`Back again, ${username}?`);
    expect(sent.join('\n')).not.toContain('Welcome,');
  });
});
