/** Logging test clients in: a session's cookie, ready-made headers, and its token for Bearer use. */

export interface TestUser {
  id: string;
  username: string;
  guest: boolean;
}

export interface TestSession {
  user: TestUser;
  /** `gw_session=<jwt>`, as a browser would send it. */
  cookie: string;
  /** The JWT itself. */
  token: string;
  /** Cookie plus the api's own Origin (a browser on the web client): pass to `call` / `readSse` / fetch. */
  headers: Record<string, string>;
  /** `Authorization: Bearer <jwt>`, as a program would send it. */
  bearer: Record<string, string>;
}

/** The `name=value` pairs of a response's Set-Cookie headers. */
export function cookiesOf(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of res.headers.getSetCookie()) {
    const pair = line.split(';')[0] ?? '';
    const i = pair.indexOf('=');
    if (i > 0) out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return out;
}

async function sessionFrom(apiUrl: string, res: Response): Promise<TestSession> {
  const text = await res.text();
  if (res.status >= 300) throw new Error(`login failed: ${res.status} ${text}`);
  const token = cookiesOf(res).gw_session;
  if (!token) throw new Error(`no session cookie in the answer: ${text}`);
  const cookie = `gw_session=${token}`;
  return {
    user: (JSON.parse(text) as { user: TestUser }).user,
    cookie,
    token,
    headers: { cookie, origin: apiUrl },
    bearer: { authorization: `Bearer ${token}` },
  };
}

const post = (apiUrl: string, path: string, body?: unknown) =>
  fetch(`${apiUrl}${path}`, {
    method: 'POST',
    headers: { origin: apiUrl, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** A fresh guest: its own user id, isolated like any account. */
export async function guestSession(apiUrl: string): Promise<TestSession> {
  return sessionFrom(apiUrl, await post(apiUrl, '/auth/guest'));
}

export async function registerSession(
  apiUrl: string,
  username: string,
  password: string,
): Promise<TestSession> {
  return sessionFrom(apiUrl, await post(apiUrl, '/auth/register', { username, password }));
}

export async function loginSession(apiUrl: string, username: string, password: string): Promise<TestSession> {
  return sessionFrom(apiUrl, await post(apiUrl, '/auth/login', { username, password }));
}
