import fc from 'fast-check';
import { type BodyPlan, bodyArb, contentTypes, oddStrings } from './bodies.js';
import type { FuzzRequest } from './raw-http.js';
import type { RouteSpec } from './routes.js';
import { seedBodies } from './seeds.js';

/**
 * Generated requests are plans with symbolic parts (which session, which real id) resolved when sent,
 * so that a session the fuzzer logged out of can be replaced between batches.
 */
export type Role = 'guest' | 'other' | 'admin';
export type IdRef = 'ownJob' | 'otherJob' | 'conversation' | 'character' | 'userId';

export interface FuzzWorld {
  apiUrl: string;
  /** Current session token per role. */
  tokens: Record<Role, string>;
  ids: Record<IdRef, string>;
  /** Bad tokens of every kind (see tokens.ts), and API keys, one of them real. */
  badTokens: { kind: string; token: string }[];
}

type Segment = { ref: IdRef } | { raw: string };
type Auth =
  | { kind: 'none' }
  | { kind: 'cookie' | 'bearer'; role: Role; origin: 'api' | 'none' | 'evil' }
  | { kind: 'bad-cookie' | 'bad-bearer'; index: number }
  | { kind: 'header'; value: string }
  | { kind: 'cookie-header'; value: string };

export interface RequestPlan {
  route: RouteSpec;
  method: string;
  segments: Segment[];
  query: string;
  auth: Auth;
  headers: Record<string, string>;
  body: BodyPlan | null;
  contentType: string | null;
  raw: { bytes: Buffer; label: string; incomplete?: boolean } | null;
}

const safeEncode = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80';
  }
};

/** Header values as latin1 text: every byte value node:http will put on the wire, UTF-8 or not. */
const latin1 = (s: string) =>
  s.replaceAll(/[^\t\x20-\x7e\x80-\xff]/g, (c) => (c.charCodeAt(0) > 0xff ? '\u00c3' : '?'));

const rawSegments = fc.constantFrom(
  '..',
  '.',
  '%2e%2e',
  '..%2F..%2F..%2Fetc%2Fpasswd',
  '%2F',
  '%00',
  'a%00b',
  '%',
  '%zz',
  '%C3%28',
  '%FF%FE',
  '%E0%80%80',
  '%ED%A0%80',
  '%F0%9F%99%82',
  '%ED%95%9C%EA%B8%80',
  'x'.repeat(10_000),
  'y'.repeat(201),
  ';jsessionid=1',
  '*',
  '~',
  '%20',
  '%0d%0aSet-Cookie:%20x=1',
  '__proto__',
  'constructor',
  '{id}',
  ':id',
  '\\..\\',
  '0000000000000000000000000000000000000000000000000000000000000000',
);

const segmentArb: fc.Arbitrary<Segment> = fc.oneof(
  {
    weight: 7,
    arbitrary: fc
      .constantFrom<IdRef>('ownJob', 'otherJob', 'conversation', 'character', 'userId')
      .map((ref) => ({ ref })),
  },
  { weight: 2, arbitrary: fc.uuid().map((raw) => ({ raw })) },
  { weight: 3, arbitrary: rawSegments.map((raw) => ({ raw })) },
  {
    weight: 2,
    arbitrary: fc.oneof(oddStrings, fc.string({ maxLength: 20 })).map((s) => ({ raw: safeEncode(s) })),
  },
);

const lastEventIds = fc.constantFrom(
  '',
  '0',
  '0-0',
  '-',
  '1-',
  '-1',
  '1700000000000-0',
  '99999999999999999999-99999999999999999999',
  '18446744073709551616-0',
  '$',
  '+',
  '>',
  '*',
  'abc',
  '1e3-0',
  ' 1-0 ',
  '1-0\u00ff',
  'x'.repeat(65),
  'x'.repeat(10_000),
);

/** A few odd headers at a time (each alone is what the server must survive; all at once is mostly a 431). */
const oddHeaderPairs: Record<string, fc.Arbitrary<string>> = {
  'last-event-id': fc.oneof(lastEventIds, oddStrings.map(latin1)),
  'idempotency-key': fc.oneof(oddStrings.map(latin1), fc.constant('k'.repeat(300)), fc.uuid()),
  range: fc.constantFrom(
    'bytes=0-',
    'bytes=-0',
    'bytes=5-1',
    'bytes=0-0,1-1,2-2',
    'bytes=99999999999999999999999-',
    'bytes=-99999999999999999999999',
    'items=0-1',
    'bytes=a-b',
    'bytes=',
    'x'.repeat(300),
  ),
  'x-request-id': fc.oneof(oddStrings.map(latin1), fc.constant('r'.repeat(64))),
  origin: fc.constantFrom(
    'null',
    'http://evil.example',
    'file:///etc',
    'http://[::1',
    'x'.repeat(5_000),
    'http://127.0.0.1:1',
  ),
  'sec-fetch-site': fc.constantFrom('cross-site', 'same-site', 'none', 'same-origin', '\u00ff'),
  accept: fc.constantFrom('text/event-stream', 'application/json;q=0', '*/*;q=abc', 'audio/*'),
  'accept-encoding': fc.constantFrom('gzip, br, zstd', '*', 'identity;q=0', 'x'.repeat(2_000)),
  'x-forwarded-for': fc.constantFrom('1.2.3.4', '::1, 10.0.0.1', 'not an ip', '999.999.999.999'),
  'x-forwarded-host': fc.constantFrom('evil.example', '127.0.0.1:1', ''),
  'x-forwarded-proto': fc.constantFrom('https', 'gopher', ''),
  'if-none-match': fc.constantFrom('*', 'W/"x"', '"'),
  'x-big': fc.constantFrom('a'.repeat(64 * 1024), 'b'.repeat(15 * 1024)),
  'user-agent': fc.string({ unit: 'binary', maxLength: 50 }).map(latin1),
};

const oddHeaders: fc.Arbitrary<Record<string, string>> = fc
  .array(
    fc.oneof(
      ...Object.entries(oddHeaderPairs).map(([name, value]) => value.map((v): [string, string] => [name, v])),
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map((pairs) => Object.fromEntries(pairs));

function authArb(badTokenCount: number): fc.Arbitrary<Auth> {
  // The guest owns the real ids, so it is the role that gets past ownership checks into the handlers.
  const role = fc.constantFrom<Role>('guest', 'guest', 'guest', 'other', 'admin');
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant({ kind: 'none' } as const) },
    {
      weight: 14,
      arbitrary: fc.record({
        kind: fc.constantFrom('cookie' as const, 'bearer' as const),
        role,
        origin: fc.constantFrom('api' as const, 'api' as const, 'none' as const, 'evil' as const),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constantFrom('bad-cookie' as const, 'bad-bearer' as const),
        index: fc.nat({ max: badTokenCount - 1 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          'Basic YWxhZGRpbjpvcGVuc2VzYW1l',
          'Bearer',
          'Bearer ',
          'bearer a b',
          'Bearer \u00ff\u00fe',
          `Bearer ${'t'.repeat(20_000)}`,
          'Token x',
          '',
        )
        .map((value) => ({ kind: 'header' as const, value })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          'gw_session=%ZZ',
          'gw_session="unterminated',
          'gw_session=; gw_session=x',
          ';;;=;',
          `gw_session=${'c'.repeat(20_000)}`,
          'gw_session=\u00ff\u00fe',
          '__proto__=1; constructor=2',
        )
        .map((value) => ({ kind: 'cookie-header' as const, value })),
    },
  );
}

const crlf = (lines: string[]) => Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');

/** Bytes node:http would never send: broken framing, smuggling attempts, raw non-ASCII, other protocols. */
const rawRequests = fc.constantFrom(
  {
    label: 'NUL in a header',
    bytes: crlf(['GET /health HTTP/1.1', 'Host: x', 'X-A: a\u0000b', 'Connection: close']),
  },
  { label: 'bare LF', bytes: Buffer.from('GET /health HTTP/1.1\nHost: x\nConnection: close\n\n') },
  {
    label: 'TLS hello',
    bytes: Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]),
  },
  { label: 'HTTP/2 preface', bytes: Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n') },
  {
    label: 'raw UTF-8 path',
    bytes: Buffer.concat([
      Buffer.from('GET /chat/jobs/'),
      Buffer.from('한글'),
      Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    ]),
  },
  {
    label: 'invalid UTF-8 path',
    bytes: crlf(['GET /chat/jobs/\u00ff\u00fe\u00c3( HTTP/1.1', 'Host: x', 'Connection: close']),
  },
  { label: 'HTTP/1.0 without Host', bytes: crlf(['GET /health HTTP/1.0']) },
  {
    label: 'HTTP/1.0 POST with Origin, no Host',
    bytes: crlf(['POST /auth/guest HTTP/1.0', 'Origin: http://evil.example', 'Content-Length: 0']),
  },
  {
    label: 'empty Host with Origin',
    bytes: crlf([
      'POST /characters HTTP/1.1',
      'Host: ',
      'Origin: http://x',
      'Content-Length: 0',
      'Connection: close',
    ]),
  },
  {
    label: 'two Hosts',
    bytes: crlf([
      'POST /auth/guest HTTP/1.1',
      'Host: a',
      'Host: b',
      'Origin: http://a',
      'Content-Length: 0',
      'Connection: close',
    ]),
  },
  { label: 'no Host', bytes: crlf(['GET /health HTTP/1.1', 'Connection: close']) },
  {
    label: 'obs-fold',
    bytes: crlf(['GET /health HTTP/1.1', 'Host: x', 'X-A: a', ' folded', 'Connection: close']),
  },
  {
    label: 'two Content-Lengths',
    bytes: crlf([
      'POST /chat/jobs HTTP/1.1',
      'Host: x',
      'Content-Type: application/json',
      'Content-Length: 2',
      'Content-Length: 5',
      'Connection: close',
      '',
      '{}',
    ]),
  },
  {
    label: 'CL and TE (smuggling)',
    bytes: crlf([
      'POST /auth/login HTTP/1.1',
      'Host: x',
      'Content-Type: application/json',
      'Content-Length: 4',
      'Transfer-Encoding: chunked',
      'Connection: close',
      '',
      '0',
      '',
      'GET /admin/queues HTTP/1.1',
      'Host: x',
    ]),
  },
  {
    label: 'bad chunk size',
    bytes: crlf([
      'POST /auth/guest HTTP/1.1',
      'Host: x',
      'Content-Type: application/json',
      'Transfer-Encoding: chunked',
      'Connection: close',
      '',
      'zz',
      '{}',
      '0',
    ]),
  },
  {
    label: 'chunked, never ends',
    bytes: crlf([
      'POST /chat/jobs HTTP/1.1',
      'Host: x',
      'Content-Type: application/json',
      'Transfer-Encoding: chunked',
      'Connection: close',
      '',
      '2',
      '{"',
    ]),
  },
  {
    label: 'absolute-form URI',
    bytes: crlf(['GET http://evil.example/health HTTP/1.1', 'Host: evil.example', 'Connection: close']),
  },
  { label: 'asterisk-form', bytes: crlf(['OPTIONS * HTTP/1.1', 'Host: x', 'Connection: close']) },
  { label: 'lower-case method', bytes: crlf(['get /health HTTP/1.1', 'Host: x', 'Connection: close']) },
  { label: 'unknown method', bytes: crlf(['BREW /health HTTP/1.1', 'Host: x', 'Connection: close']) },
  {
    label: '100 KB URL',
    bytes: crlf([`GET /chat/jobs/${'u'.repeat(100_000)} HTTP/1.1`, 'Host: x', 'Connection: close']),
  },
  {
    label: 'header without a colon',
    bytes: crlf(['GET /health HTTP/1.1', 'Host: x', 'Nonsense', 'Connection: close']),
  },
  {
    label: '3000 headers',
    bytes: crlf([
      'GET /health HTTP/1.1',
      'Host: x',
      ...Array.from({ length: 3_000 }, (_, i) => `X-${i}: v`),
      'Connection: close',
    ]),
  },
  {
    label: 'Host with UTF-8 bytes',
    bytes: Buffer.from('GET /health HTTP/1.1\r\nHost: 한글.example\r\nConnection: close\r\n\r\n'),
  },
  {
    label: 'Expect: 100-continue',
    bytes: crlf([
      'POST /auth/guest HTTP/1.1',
      'Host: x',
      'Expect: 100-continue',
      'Content-Type: application/json',
      'Content-Length: 2',
      'Connection: close',
      '',
      '{}',
    ]),
  },
  { label: 'garbage', bytes: Buffer.from('\u0000\u0001\u0002\r\n\r\n') },
);

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND'];

const queryArb = (route: RouteSpec): fc.Arbitrary<string> => {
  const keys = [
    ...Object.keys(route.query),
    'last_event_id',
    'chunk',
    'voice_id',
    '__proto__',
    'constructor[prototype]',
    'a[b][c]',
  ];
  const value = fc.oneof(
    fc.constantFrom('0', '-1', '1.5', '99999999999', 'NaN', '', '%zz', '%00', '1-0', 'x'.repeat(3_000)),
    fc.string({ maxLength: 10 }).map(safeEncode),
  );
  const pair = fc.tuple(fc.constantFrom(...keys), value).map(([k, v]) => `${safeEncode(k)}=${v}`);
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant('') },
    { weight: 3, arbitrary: fc.array(pair, { minLength: 1, maxLength: 4 }).map((ps) => `?${ps.join('&')}`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '?',
        '??',
        '?&&=&',
        '?%',
        `?${'q'.repeat(20_000)}=1`,
        '?a=1&a=2&a=3',
        '?chunk=1&chunk=2',
      ),
    },
  );
};

export function planArb(routes: RouteSpec[], world: FuzzWorld): fc.Arbitrary<RequestPlan> {
  const idList = Object.values(world.ids);
  const seeds = seedBodies(world.ids);
  const perRoute = routes.map((route) => {
    const params = route.path.split('/').filter((p) => p.startsWith(':') || p === '*').length;
    return fc.record({
      route: fc.constant(route),
      method: fc.oneof(
        { weight: 9, arbitrary: fc.constant(route.method) },
        { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
      ),
      segments: fc.array(segmentArb, { minLength: params, maxLength: params }),
      query: queryArb(route),
      auth: authArb(world.badTokens.length),
      headers: fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 2, arbitrary: oddHeaders }),
      body:
        route.method === 'GET' || route.method === 'HEAD'
          ? fc.option(bodyArb(undefined, idList), { freq: 10, nil: null })
          : bodyArb(route.body, idList, seeds[`${route.method} ${route.path}`]),
      contentType: contentTypes,
      raw: fc.constant(null),
    });
  });
  return fc.oneof(
    { weight: 60, arbitrary: fc.oneof(...perRoute) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...routes), rawRequests).map(([route, raw]) => ({
        route,
        method: 'RAW',
        segments: [],
        query: '',
        auth: { kind: 'none' as const },
        headers: {},
        body: null,
        contentType: null,
        raw,
      })),
    },
  );
}

/** Turns a plan into bytes against the world as it is now. */
export function resolvePlan(plan: RequestPlan, world: FuzzWorld): FuzzRequest {
  if (plan.raw)
    return { method: 'RAW', path: '', headers: {}, raw: plan.raw.bytes, label: `raw: ${plan.raw.label}` };
  let i = 0;
  const path = plan.route.path
    .split('/')
    .map((part) => {
      if (!part.startsWith(':') && part !== '*') return part;
      const seg = plan.segments[i++]!;
      return 'ref' in seg ? world.ids[seg.ref] : seg.raw;
    })
    .join('/');
  const headers: Record<string, string> = { ...plan.headers };
  const a = plan.auth;
  let authLabel: string = a.kind;
  if (a.kind === 'cookie' || a.kind === 'bearer') {
    const token = world.tokens[a.role];
    if (a.kind === 'cookie') headers.cookie = `gw_session=${token}`;
    else headers.authorization = `Bearer ${token}`;
    if (a.origin === 'api') headers.origin ??= world.apiUrl;
    if (a.origin === 'evil') headers.origin = 'http://evil.example';
    authLabel = `${a.kind} ${a.role} origin=${a.origin}`;
  } else if (a.kind === 'bad-cookie' || a.kind === 'bad-bearer') {
    const bad = world.badTokens[a.index]!;
    if (a.kind === 'bad-cookie') headers.cookie = `gw_session=${bad.token}`;
    else headers.authorization = `Bearer ${bad.token}`;
    headers.origin ??= world.apiUrl;
    authLabel = `${a.kind} ${bad.kind}`;
  } else if (a.kind === 'header') headers.authorization = a.value;
  else if (a.kind === 'cookie-header') headers.cookie = a.value;
  if (plan.body && plan.contentType) headers['content-type'] = plan.contentType;
  const shown = Object.entries(plan.headers)
    .map(([k, v]) => `${k}=${JSON.stringify(v.slice(0, 40))}${v.length > 40 ? `…(${v.length})` : ''}`)
    .join(' ');
  return {
    method: plan.method,
    path: `${path}${plan.query}`,
    headers,
    ...(plan.body ? { body: plan.body.bytes } : {}),
    label: `${plan.method} ${plan.route.path} [${authLabel}] body=${plan.body?.label ?? 'none'} ct=${plan.contentType} ${shown}`,
  };
}
