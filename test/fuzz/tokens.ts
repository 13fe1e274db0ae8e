import { createHmac, randomBytes } from 'node:crypto';

/** Session tokens an attacker could present: forged, unsigned, expired, wrongly signed, or odd inside. */

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

export function signHs256(header: unknown, payload: unknown, secret: string): string {
  const head = `${b64(header)}.${b64(payload)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

export interface TokenFactory {
  /** A token of every kind, each paired with what it is (for failure messages). */
  all(): { kind: string; token: string }[];
}

/**
 * `secret` is the api's JWT_SECRET (the test sets it), so expired and odd-claim tokens carry a valid
 * signature and get past the signature check to the code behind it. `valid` is a real session's token.
 */
export function tokenFactory(secret: string, valid: string): TokenFactory {
  const [validHead = '', validBody = ''] = valid.split('.');
  const claims = JSON.parse(Buffer.from(validBody, 'base64url').toString('utf8')) as Record<string, unknown>;
  const now = Math.floor(Date.now() / 1000);
  const hs = { alg: 'HS256', typ: 'JWT' };
  const good = (payload: unknown) => signHs256(hs, payload, secret);
  const kinds: Record<string, string> = {
    forged_signature: `${validHead}.${validBody}.${randomBytes(32).toString('base64url')}`,
    alg_none: `${b64({ alg: 'none', typ: 'JWT' })}.${validBody}.`,
    alg_none_signed: `${b64({ alg: 'none' })}.${validBody}.${valid.split('.')[2] ?? ''}`,
    alg_None_case: `${b64({ alg: 'None' })}.${validBody}.`,
    alg_hs512: signHs256({ alg: 'HS512' }, claims, secret),
    alg_rs256_confusion: signHs256({ alg: 'RS256' }, claims, secret),
    expired: good({ ...claims, iat: now - 7_200, exp: now - 3_600 }),
    not_yet_valid: good({ ...claims, nbf: now + 3_600 }),
    wrong_secret: signHs256(hs, claims, 'not-the-secret-not-the-secret-not-the'),
    claims_missing: good({ sub: claims.sub }),
    claims_wrong_types: good({ ...claims, sub: 42, sid: ['x'], guest: 'yes', exp: 'never' }),
    claims_unknown_session: good({ ...claims, sid: randomBytes(12).toString('base64url') }),
    claims_other_user: good({ ...claims, sub: 'someone-else' }),
    claims_odd_sid: good({ ...claims, sid: '}{../\u0000한글' }),
    claims_long: good({ ...claims, name: 'x'.repeat(5_000), sid: 'y'.repeat(5_000) }),
    claims_proto: good(
      JSON.parse(`{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},"sub":"a"}`),
    ),
    claims_not_object: good('just a string'),
    claims_array: good([1, 2, 3]),
    claims_null: `${b64(hs)}.${b64('null')}.x`,
    header_not_json: `${b64('{not json')}.${validBody}.x`,
    body_not_json: `${validHead}.${b64('\u00ff\u00fe{')}.x`,
    two_parts: `${validHead}.${validBody}`,
    four_parts: `${valid}.extra`,
    empty_parts: '..',
    huge: `${validHead}.${'A'.repeat(12_000)}.${'B'.repeat(43)}`,
    not_base64: `${validHead}.%%%.***`,
    unicode: '토큰.토큰.토큰',
  };
  return { all: () => Object.entries(kinds).map(([kind, token]) => ({ kind, token })) };
}
