/**
 * Headers that authenticate a test client. Logs in a fresh guest when the api has accounts; until then
 * (no /auth/guest route) no headers are needed.
 */
export async function guestHeaders(apiUrl: string): Promise<Record<string, string>> {
  const res = await fetch(`${apiUrl}/auth/guest`, {
    method: 'POST',
    headers: { origin: apiUrl, 'content-type': 'application/json' },
    body: '{}',
  });
  if (res.status === 404) return {};
  if (res.status >= 300) throw new Error(`guest login failed: ${res.status} ${await res.text()}`);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  return { cookie, origin: apiUrl };
}
