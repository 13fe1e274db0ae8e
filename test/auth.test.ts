import { createHmac, randomBytes } from 'node:crypto';
import type { Character, ChatJobAccepted, ChatJobView } from '@gateway/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookiesOf, guestSession, registerSession, type TestSession } from './support/auth.js';
import { call, readSse, waitFor } from './support/http.js';
import { type Stack, startStack } from './support/stack.js';

const SECRET = randomBytes(32).toString('hex');
const EVIL = 'https://evil.example';
const APP = 'https://app.example';
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
type ErrorBody = { error: { code: string; message: string; details?: unknown } };

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function signJwt(claims: object, secret = SECRET, alg = 'HS256'): string {
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
  const hash = alg === 'HS512' ? 'sha512' : 'sha256';
  return `${head}.${createHmac(hash, secret).update(head).digest('base64url')}`;
}
const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown> & {
    iat: number;
    exp: number;
  };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('users, sessions and ownership', () => {
  let stack: Stack;
  const tokens: string[] = [];
  const remember = (s: TestSession) => {
    tokens.push(s.token);
    return s;
  };
  const url = (path: string) => `${stack.apiUrl}${path}`;
  const submit = (headers: Record<string, string>, body: Record<string, unknown> = { message: '안녕!' }) =>
    call<ChatJobAccepted & ErrorBody>(url('/chat/jobs'), { body, headers });
  const view = (s: TestSession, id: string) =>
    call<ChatJobView>(url(`/chat/jobs/${id}`), { headers: s.headers }).then((r) => r.body);
  const ended = (s: TestSession, id: string) =>
    waitFor(
      () => view(s, id),
      (v) => ['completed', 'failed', 'cancelled'].includes(v.status),
    );

  beforeAll(async () => {
    stack = await startStack({
      kind: 'ollama',
      sim: { tokenDelayMs: 1 },
      env: { JWT_SECRET: SECRET, USER_MAX_ACTIVE_JOBS: '2', LOGIN_MAX_ATTEMPTS: '3', CORS_ORIGINS: APP },
    });
  });
  afterAll(() => stack.stop());

  it('registers, reads /auth/me, logs out for real and logs in again', async () => {
    const name = `Mina_${randomBytes(3).toString('hex')}`;
    const res = await fetch(url('/auth/register'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: stack.apiUrl },
      body: JSON.stringify({ username: name, password: PASSWORD }),
    });
    expect(res.status).toBe(201);
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('gw_session='))!;
    expect(setCookie).toMatch(/; HttpOnly/i);
    expect(setCookie).toMatch(/; SameSite=Lax/i);
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).not.toMatch(/; Secure/i);
    const { user } = (await res.json()) as { user: { id: string; username: string; guest: boolean } };
    expect(user).toMatchObject({ username: name, guest: false });
    const cookie = `gw_session=${cookiesOf(res).gw_session}`;
    tokens.push(cookiesOf(res).gw_session!);
    const headers = { cookie, origin: stack.apiUrl };

    expect((await call(url('/auth/me'), { headers })).body).toEqual({ user });
    expect((await call<ErrorBody>(url('/auth/me'))).body.error.code).toBe('unauthorized');
    expect(
      (await call(url('/auth/register'), { body: { username: name.toUpperCase(), password: PASSWORD } }))
        .status,
    ).toBe(409);
    expect(
      (await call(url('/auth/register'), { body: { username: 'shorty', password: 'short' } })).status,
    ).toBe(400);

    const out = await fetch(url('/auth/logout'), { method: 'POST', headers });
    expect(out.status).toBe(204);
    expect(out.headers.getSetCookie().join()).toMatch(/gw_session=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/);
    const after = await call<ErrorBody>(url('/auth/me'), { headers });
    expect(after.status).toBe(401);
    expect(after.body.error.message).toMatch(/ended/);

    const wrong = await call<ErrorBody>(url('/auth/login'), {
      body: { username: name, password: `${PASSWORD}x` },
    });
    const unknown = await call<ErrorBody>(url('/auth/login'), {
      body: { username: `${name}zz`, password: PASSWORD },
    });
    expect([wrong.status, unknown.status]).toEqual([401, 401]);
    expect(wrong.body.error.message).toBe(unknown.body.error.message);
    // Names match regardless of case; `token: true` also returns the JWT for Bearer use.
    const again = await call<{ user: { id: string }; token: string; expires_at: string }>(
      url('/auth/login'),
      {
        body: { username: name.toLowerCase(), password: PASSWORD, token: true },
      },
    );
    expect(again.body.user.id).toBe(user.id);
    expect(again.headers.getSetCookie().join()).toContain(`gw_session=${again.body.token}`);
    expect(Date.parse(again.body.expires_at)).toBeGreaterThan(Date.now());
    tokens.push(again.body.token);
    expect((await call(url('/auth/me'), { headers: bearer(again.body.token) })).status).toBe(200);
  }, 60_000); // password hashing is deliberately slow, and slower on a busy machine

  it('refuses tampered, expired, wrongly signed, alg:none and other-algorithm tokens', async () => {
    const s = remember(await guestSession(stack.apiUrl));
    const other = remember(await guestSession(stack.apiUrl));
    const good = claimsOf(s.token);
    const now = Math.floor(Date.now() / 1000);
    const [head, , sig] = s.token.split('.');
    const forged = {
      tampered: `${head}.${b64({ ...good, sub: other.user.id })}.${sig}`,
      expired: signJwt({ ...good, iat: now - 7_200, exp: now - 3_600 }),
      wronglySigned: signJwt(good, randomBytes(32).toString('hex')),
      algNone: `${b64({ alg: 'none', typ: 'JWT' })}.${b64(good)}.`,
      hs512: signJwt(good, SECRET, 'HS512'),
      garbage: 'not.a.jwt',
    };
    for (const [kind, token] of Object.entries(forged)) {
      for (const headers of [bearer(token), { cookie: `gw_session=${token}` }]) {
        const res = await call<ErrorBody>(url('/auth/me'), { headers });
        expect(res.status, `${kind} ${Object.keys(headers)[0]}`).toBe(401);
        expect(res.body.error.code).toBe('unauthorized');
      }
    }
    expect(
      (await call<ErrorBody>(url('/auth/me'), { headers: bearer(forged.expired) })).body.error.message,
    ).toMatch(/expired/);
    const bad = await fetch(url('/auth/me'), { headers: { cookie: `gw_session=${forged.tampered}` } });
    expect(bad.headers.getSetCookie().join()).toMatch(/gw_session=;/);
    // A valid token with the same secret passes: the forgeries failed for their own reasons.
    expect((await call(url('/auth/me'), { headers: bearer(signJwt(good)) })).status).toBe(200);
  });

  it('re-issues the cookie once more than half the session passed (sliding session)', async () => {
    const s = remember(await guestSession(stack.apiUrl));
    const old = claimsOf(s.token);
    const iat = Math.floor(Date.now() / 1000) - 2_000;
    const aged = signJwt({ ...old, iat, exp: iat + 3_600 });
    const res = await fetch(url('/auth/me'), { headers: { cookie: `gw_session=${aged}` } });
    expect(res.status).toBe(200);
    const fresh = cookiesOf(res).gw_session!;
    tokens.push(fresh);
    expect(claimsOf(fresh).exp).toBeGreaterThan(iat + 3_600);
    const young = await fetch(url('/auth/me'), { headers: { cookie: s.cookie } });
    expect(young.headers.getSetCookie()).toEqual([]);
  });

  it("answers 404 for another user's job, events, audio, conversation and character, and refuses their cancel", async () => {
    const a = remember(await guestSession(stack.apiUrl));
    const b = remember(
      await registerSession(stack.apiUrl, `bob_${randomBytes(3).toString('hex')}`, PASSWORD),
    );
    expect(a.user.guest).toBe(true);
    expect(a.user.id).not.toBe(b.user.id);
    const char = await call<Character>(url('/characters'), {
      body: { name: '하나', persona: '화가' },
      headers: a.headers,
    });
    const job = await submit(a.headers);
    expect(job.status).toBe(202);
    await ended(a, job.body.job_id);
    const id = job.body.job_id;
    const probes = [
      ['GET', `/chat/jobs/${id}`],
      ['GET', `/chat/jobs/${id}/events`],
      ['GET', `/chat/jobs/${id}/audio`],
      ['DELETE', `/chat/jobs/${id}`],
      ['POST', `/chat/jobs/${id}/tts`],
      ['GET', `/conversations/${job.body.conversation_id}`],
      ['GET', `/characters/${char.body.id}`],
      ['PATCH', `/characters/${char.body.id}`],
      ['DELETE', `/characters/${char.body.id}`],
    ] as const;
    for (const [method, path] of probes) {
      const body = method === 'PATCH' ? { name: 'stolen' } : undefined;
      const res = await call<ErrorBody>(url(path), { method, headers: b.headers, ...(body ? { body } : {}) });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    expect((await submit(b.headers, { message: 'x', character_id: char.body.id })).status).toBe(404);
    expect(
      (await submit(b.headers, { message: 'x', conversation_id: job.body.conversation_id })).status,
    ).toBe(404);
    expect(
      (await call<{ characters: unknown[] }>(url('/characters'), { headers: b.headers })).body.characters,
    ).toEqual([]);
    // The owner still reads all of it.
    expect(
      (await call(url(`/conversations/${job.body.conversation_id}`), { headers: a.headers })).status,
    ).toBe(200);
    expect((await call(url(`/characters/${char.body.id}`), { headers: a.headers })).status).toBe(200);
    expect((await readSse(url(`/chat/jobs/${id}/events`), { headers: a.headers })).at(-1)?.event).toBe(
      'done',
    );
    // Without a session nothing but the public routes answers.
    expect((await call(url('/characters'))).status).toBe(401);
    expect((await submit({})).status).toBe(401);
    expect((await call(url('/models'))).status).toBe(200);
    expect((await call<ErrorBody>(url('/no/such/route'))).body.error.code).toBe('not_found');
  });

  it('refuses cross-site state changes made with the cookie, but not with Bearer or from CORS_ORIGINS', async () => {
    const s = remember(await guestSession(stack.apiUrl));
    const evil = await submit({ cookie: s.cookie, origin: EVIL });
    expect(evil.status).toBe(403);
    expect(evil.body.error.code).toBe('forbidden');
    expect((await submit({ cookie: s.cookie, 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect(
      (await call(url('/auth/login'), { body: { username: 'x', password: 'y' }, headers: { origin: EVIL } }))
        .status,
    ).toBe(403);
    const viaBearer = await submit({ ...s.bearer, origin: EVIL });
    expect(viaBearer.status).toBe(202);
    await ended(s, viaBearer.body.job_id);

    const friendly = await submit({ cookie: s.cookie, origin: APP });
    expect(friendly.status).toBe(202);
    expect(friendly.headers.get('access-control-allow-origin')).toBe(APP);
    expect(friendly.headers.get('access-control-allow-credentials')).toBe('true');
    const sse = await fetch(url(`/chat/jobs/${friendly.body.job_id}/events`), {
      headers: { cookie: s.cookie, origin: APP },
    });
    expect(sse.headers.get('access-control-allow-origin')).toBe(APP);
    expect(sse.headers.get('access-control-allow-credentials')).toBe('true');
    await sse.body?.cancel();
    const preflight = await fetch(url('/chat/jobs'), {
      method: 'OPTIONS',
      headers: {
        origin: APP,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/POST/);
    const stranger = await fetch(url('/health'), { headers: { origin: EVIL } });
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
    const csp = stranger.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/default-src 'self'/);
    expect(csp).toMatch(/media-src 'self' blob:/);
    expect(stranger.headers.get('x-content-type-options')).toBe('nosniff');
    await ended(s, friendly.body.job_id);
  });

  it('rate-limits login attempts per username with 429 and Retry-After', async () => {
    const name = `carol_${randomBytes(3).toString('hex')}`;
    remember(await registerSession(stack.apiUrl, name, PASSWORD));
    for (let i = 0; i < 3; i++) {
      expect(
        (await call(url('/auth/login'), { body: { username: name, password: `guess${i}` } })).status,
      ).toBe(401);
    }
    const blocked = await call<ErrorBody>(url('/auth/login'), {
      body: { username: name, password: PASSWORD },
    });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('rate_limited');
    expect(blocked.body.error.details).toEqual({ scope: 'username', limit: 3, window_seconds: 900 });
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
  }, 60_000);

  it('caps queued plus running jobs per user while others still get 202; ending a job frees its slot', async () => {
    stack.sim.configure({ ttftMs: 2_000 });
    try {
      const busy = remember(await guestSession(stack.apiUrl));
      const other = remember(await guestSession(stack.apiUrl));
      const first = await submit(busy.headers);
      const second = await submit(busy.headers);
      expect([first.status, second.status]).toEqual([202, 202]);
      const third = await submit(busy.headers);
      expect(third.status).toBe(429);
      expect(third.body.error.code).toBe('user_job_limit');
      expect(third.body.error.details).toEqual({ active: 2, limit: 2 });
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
      const theirs = await submit(other.headers);
      expect(theirs.status).toBe(202);
      // Someone else cannot cancel it; its owner can, and gets the slot back.
      expect(
        (await call(url(`/chat/jobs/${first.body.job_id}`), { method: 'DELETE', headers: other.headers }))
          .status,
      ).toBe(404);
      expect(
        (await call(url(`/chat/jobs/${first.body.job_id}`), { method: 'DELETE', headers: busy.headers }))
          .status,
      ).toBe(202);
      expect((await ended(busy, first.body.job_id)).status).toBe('cancelled');
      const fourth = await waitFor(
        () => submit(busy.headers),
        (r) => r.status === 202,
        5_000,
      );
      stack.sim.configure({ ttftMs: 0 });
      for (const [s, id] of [
        [busy, second.body.job_id],
        [busy, fourth.body.job_id],
        [other, theirs.body.job_id],
      ] as const) {
        expect((await ended(s, id)).status).toBe('completed');
      }
      // Each ended job gave its slot back (the worker releases it just after the record ends).
      await waitFor(
        () => stack.redis.zcard(`${stack.prefix}:user:{${busy.user.id}}:active`),
        (n) => n === 0,
        5_000,
      );
    } finally {
      stack.sim.configure({ ttftMs: 0 });
    }
  });

  it("sends a stored character's persona to the LLM and its voice to the job's speech", async () => {
    const s = remember(await guestSession(stack.apiUrl));
    const created = await call<Character>(url('/characters'), {
      headers: s.headers,
      body: {
        name: '하나',
        persona: '바다를 좋아하는 화가. 표식-7731',
        voice_id: 'ko-voice-7',
        greeting: '어서 와!',
      },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/characters/${created.body.id}`);
    const patched = await call<Character>(url(`/characters/${created.body.id}`), {
      method: 'PATCH',
      headers: s.headers,
      body: { persona: '바다를 좋아하는 화가. 표식-8842' },
    });
    expect(patched.body).toMatchObject({
      name: '하나',
      persona: '바다를 좋아하는 화가. 표식-8842',
      voice_id: 'ko-voice-7',
    });
    const job = await submit(s.headers, { message: '안녕하세요', character_id: created.body.id, tts: true });
    expect(job.status).toBe(202);
    const done = await ended(s, job.body.job_id);
    expect(done.status).toBe('completed');
    expect(done.tts?.voice_id).toBe('ko-voice-7');
    const chats = stack.sim.requests().filter((r) => r.path.endsWith('/chat'));
    const sent = chats.at(-1)!.body as { messages: { role: string; content: string }[] };
    expect(sent.messages[0]!.role).toBe('system');
    expect(sent.messages[0]!.content).toContain('표식-8842');
    expect(sent.messages[0]!.content).toContain('하나');
    // The greeting opened the conversation, so the model sees it as history.
    expect(sent.messages.map((m) => m.content).join('\n')).toContain('어서 와!');
    const override = await submit(s.headers, {
      message: '또',
      character_id: created.body.id,
      tts: true,
      voice_id: 'v2',
    });
    expect((await ended(s, override.body.job_id)).tts?.voice_id).toBe('v2');
    expect(
      (await call(url('/chat/jobs'), { headers: s.headers, body: { message: 'x', character_id: 'nope' } }))
        .status,
    ).toBe(404);
    const del = await call(url(`/characters/${created.body.id}`), { method: 'DELETE', headers: s.headers });
    expect(del.status).toBe(204);
    expect((await call(url(`/characters/${created.body.id}`), { headers: s.headers })).status).toBe(404);
  });

  it('imports SillyTavern character cards (V2 and V1) with size limits', async () => {
    const s = remember(await guestSession(stack.apiUrl));
    const card = {
      spec: 'chara_card_v2',
      spec_version: '2.0',
      data: {
        name: 'Seraphina',
        description: '{{char}} guards the forest.',
        personality: 'gentle',
        scenario: '{{user}} is lost.',
        first_mes: 'Welcome, {{user}}.',
        mes_example: '<START>\n{{user}}: hi\n{{char}}: hello',
        system_prompt: 'Stay in character.',
        creator_notes: 'ignored',
        tags: ['fantasy'],
        extensions: {},
        character_book: { entries: [] },
      },
    };
    const v2 = await call<Character>(url('/characters/import?voice_id=en-f1'), {
      headers: s.headers,
      body: card,
    });
    expect(v2.status).toBe(201);
    expect(v2.body).toMatchObject({ name: 'Seraphina', voice_id: 'en-f1', greeting: 'Welcome, {{user}}.' });
    for (const part of [
      'Seraphina guards the forest.',
      'Personality:\ngentle',
      'Scenario:\n{{user}} is lost.',
      'Instructions:\nStay in character.',
      'Example dialogue:\n{{user}}: hi\nSeraphina: hello',
    ]) {
      expect(v2.body.persona).toContain(part);
    }
    const v1 = await call<Character>(url('/characters/import'), {
      headers: s.headers,
      body: { name: '미나', description: '대학생', first_mes: '안녕!' },
    });
    expect(v1.body).toMatchObject({ name: '미나', persona: '대학생', greeting: '안녕!', voice_id: null });
    const nameless = await call<ErrorBody>(url('/characters/import'), {
      headers: s.headers,
      body: { spec: 'chara_card_v2', data: {} },
    });
    expect(nameless.status).toBe(400);
    const huge = await call(url('/characters/import'), {
      headers: s.headers,
      body: { ...card, data: { ...card.data, mes_example: 'x'.repeat(1_100_000) } },
    });
    expect(huge.status).toBe(413);
    const list = await call<{ characters: Character[] }>(url('/characters'), { headers: s.headers });
    expect(list.body.characters.map((c) => c.name).sort()).toEqual(['Seraphina', '미나']);
  });

  it('logs a guest in and out: the guest is gone afterwards', async () => {
    const g = remember(await guestSession(stack.apiUrl));
    expect(g.user.username).toMatch(/^guest-/);
    expect((await call(url('/auth/me'), { headers: g.headers })).body).toEqual({ user: g.user });
    expect(await stack.redis.exists(`${stack.prefix}:user:{${g.user.id}}`)).toBe(1);
    expect((await fetch(url('/auth/logout'), { method: 'POST', headers: g.headers })).status).toBe(204);
    expect(await stack.redis.exists(`${stack.prefix}:user:{${g.user.id}}`)).toBe(0);
    expect((await call(url('/auth/me'), { headers: g.bearer })).status).toBe(401);
  });

  it('never writes a password, hash, cookie or token to any log line', async () => {
    const everything = stack.processes.map((p) => p.output()).join('\n');
    expect(everything).toContain('session started');
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toMatch(/scrypt\$/);
    expect(everything).not.toMatch(/gw_session=/);
    expect(everything).not.toMatch(/eyJ[\w-]{10,}\.[\w-]{10,}/);
    for (const token of tokens) expect(everything).not.toContain(token.split('.')[2]);
  });
});
