import { createHash, randomBytes } from 'node:crypto';
import type { ApiKeyCreated, ApiKeyList, UserView } from '@gateway/contracts';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestSession, registerSession, type TestSession } from './support/auth.js';
import { call } from './support/http.js';
import { type Stack, startStack } from './support/stack.js';

type OpenAiError = { error: { message: string; type: string; param: string | null; code: string | null } };

describe('API keys for programs', () => {
  let stack: Stack;
  let mina: TestSession;
  const url = (path: string) => `${stack.apiUrl}${path}`;
  const register = () =>
    registerSession(
      stack.apiUrl,
      `key_${randomBytes(4).toString('hex')}`,
      `pw-${randomBytes(8).toString('hex')}`,
    );
  const createKey = (s: TestSession | Record<string, string>, name = 'my script') =>
    call<ApiKeyCreated & OpenAiError>(url('/auth/api-keys'), {
      body: { name },
      headers: 'headers' in s ? (s as TestSession).headers : (s as Record<string, string>),
    });
  const listKeys = (s: TestSession) => call<ApiKeyList>(url('/auth/api-keys'), { headers: s.headers });
  const client = (key: string) => new OpenAI({ baseURL: `${stack.apiUrl}/v1`, apiKey: key, maxRetries: 0 });
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  beforeAll(async () => {
    stack = await startStack({ kind: 'ollama', sim: { tokenDelayMs: 1 } });
    mina = await register();
  });
  afterAll(() => stack.stop());

  it('creates a key shown once, lists keys without key material, and the key works as a Bearer token', async () => {
    const created = await createKey(mina);
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.body).toEqual({
      id: expect.stringMatching(/^key_/),
      name: 'my script',
      key: expect.stringMatching(/^gwk_[A-Za-z0-9_-]{43}$/),
      created_at: expect.any(String),
    });
    const { key, id } = created.body;

    const before = await listKeys(mina);
    expect(before.body.api_keys).toEqual([
      { id, name: 'my script', created_at: created.body.created_at, last_used_at: null },
    ]);
    expect(JSON.stringify(before.body)).not.toContain(key.slice(4));

    const models = await client(key).models.list();
    expect(models.data.length).toBeGreaterThan(0);
    // The key acts as its user everywhere, not only under /v1.
    const me = await call<{ user: UserView }>(url('/auth/me'), { headers: bearer(key) });
    expect(me.body.user).toEqual(mina.user);
    const after = await listKeys(mina);
    expect(after.body.api_keys[0]!.last_used_at).not.toBeNull();
  });

  it('stores only the SHA-256 of a key', async () => {
    const { key } = (await createKey(mina, 'hash check')).body;
    const hash = createHash('sha256').update(key).digest('hex');
    expect(await stack.redis.exists(`${stack.prefix}:apikey:{${hash}}`)).toBe(1);
    const secret = key.slice(4);
    for (const k of await stack.redis.keys(`${stack.prefix}:*`)) {
      const type = await stack.redis.type(k);
      const values =
        type === 'hash'
          ? Object.values(await stack.redis.hgetall(k))
          : type === 'string'
            ? [(await stack.redis.get(k)) ?? '']
            : [];
      for (const v of values) expect(v).not.toContain(secret);
    }
  });

  it('refuses unknown, malformed and revoked keys with AuthenticationError, at once after revoking', async () => {
    const forged = `gwk_${randomBytes(32).toString('base64url')}`;
    for (const key of [forged, 'gwk_short', 'sk-not-ours']) {
      const err = await client(key)
        .models.list()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect((err as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({
        type: 'authentication_error',
        code: 'unauthorized',
      });
    }
    const { key, id } = (await createKey(mina, 'to revoke')).body;
    const sdk = client(key);
    await sdk.models.list();
    const del = await call(url(`/auth/api-keys/${id}`), { method: 'DELETE', headers: mina.headers });
    expect(del.status).toBe(204);
    await expect(sdk.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(
      sdk.chat.completions.create({ model: 'gemma-3-27b-it', messages: [{ role: 'user', content: '안녕' }] }),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    expect((await listKeys(mina)).body.api_keys.map((k) => k.id)).not.toContain(id);
    const again = await call(url(`/auth/api-keys/${id}`), { method: 'DELETE', headers: mina.headers });
    expect(again.status).toBe(404);
  });

  it('keeps keys to their owner, to sessions, and to registered users', async () => {
    const { key, id } = (await createKey(mina, 'mine')).body;
    const other = await register();
    const foreign = await call(url(`/auth/api-keys/${id}`), { method: 'DELETE', headers: other.headers });
    expect(foreign.status).toBe(404);
    expect((await listKeys(other)).body.api_keys).toEqual([]);
    // A key cannot mint or list keys: a leaked key must not outlive its revocation.
    const minted = await createKey(bearer(key));
    expect(minted.status).toBe(403);
    const listed = await call(url('/auth/api-keys'), { headers: bearer(key) });
    expect(listed.status).toBe(403);
    const guest = await guestSession(stack.apiUrl);
    expect((await createKey(guest)).status).toBe(403);
    expect((await call(url('/auth/api-keys'), { headers: mina.bearer })).status).toBe(200);
  });

  it('writes auth, CSRF and routing errors under /v1 in OpenAI shape', async () => {
    const none = await call<OpenAiError>(url('/v1/models'));
    expect(none.status).toBe(401);
    expect(none.body.error).toMatchObject({
      type: 'authentication_error',
      param: null,
      code: 'unauthorized',
    });
    expect(none.body.error.message).toMatch(/API key/);

    // A page of another site using the logged-in cookie.
    const forged = await call<OpenAiError>(url('/v1/chat/completions'), {
      body: { messages: [{ role: 'user', content: 'hi' }] },
      headers: { cookie: mina.cookie, origin: 'https://evil.example' },
    });
    expect(forged.status).toBe(403);
    expect(forged.body.error).toMatchObject({ type: 'permission_error', code: 'forbidden' });

    const missing = await call<OpenAiError>(url('/v1/embeddings'), {
      body: { input: 'x' },
      headers: mina.bearer,
    });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ type: 'invalid_request_error', code: 'not_found' });

    const notJson = await fetch(url('/v1/chat/completions'), {
      method: 'POST',
      headers: { ...mina.bearer, 'content-type': 'application/json' },
      body: '{"messages": [',
    });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as OpenAiError).error.type).toBe('invalid_request_error');

    // Outside /v1 the gateway's own shape stays.
    const own = await call<{ error: { code: string } }>(url('/chat/jobs/nope'));
    expect(own.body.error.code).toBe('unauthorized');
  });
});
