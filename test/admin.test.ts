import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin } from './support/admin.js';
import { guestSession, loginSession, registerSession, type TestSession } from './support/auth.js';
import { call } from './support/http.js';
import { type Stack, startStack } from './support/stack.js';

describe('admin pages', () => {
  let stack: Stack;
  let admin: TestSession;
  beforeAll(async () => {
    stack = await startStack({ kind: 'ollama', services: ['api'], env: { ADMIN_USERS: 'boss' } });
    await createAdmin(stack, 'boss', 'correct horse battery staple');
    admin = await loginSession(stack.apiUrl, 'boss', 'correct horse battery staple');
  });
  afterAll(() => stack.stop());

  it('opens the queue dashboard to admins only: 403 for others, 401 without a session', async () => {
    const user = await registerSession(stack.apiUrl, 'worker', 'another long password 123');
    const guest = await guestSession(stack.apiUrl);
    const page = await fetch(`${stack.apiUrl}/admin/queues`, { headers: admin.headers });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/html/);
    const queues = await fetch(`${stack.apiUrl}/admin/queues/api/queues`, { headers: admin.headers });
    expect(queues.status).toBe(200);
    expect(JSON.stringify(await queues.json())).toContain('{chat}');
    for (const s of [user, guest]) {
      const res = await call<{ error: { code: string } }>(`${stack.apiUrl}/admin/queues`, {
        headers: s.headers,
      });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    }
    expect((await fetch(`${stack.apiUrl}/admin/queues`)).status).toBe(401);
  });

  it("lets an admin, and only an admin, set a user's fair-share weight", async () => {
    const user = await guestSession(stack.apiUrl);
    const url = `${stack.apiUrl}/admin/users/${user.user.id}/weight`;
    expect((await call(url, { method: 'PUT', body: { weight: 2 }, headers: user.headers })).status).toBe(403);
    const ok = await call(url, { method: 'PUT', body: { weight: 2 }, headers: admin.headers });
    expect(ok.status).toBe(200);
    expect(await stack.redis.get(`${stack.prefix}:fair:{${user.user.id}}:weight`)).toBe('2');
    expect((await call(url, { method: 'PUT', body: { weight: -1 }, headers: admin.headers })).status).toBe(
      400,
    );
  });
});
