import fc from 'fast-check';
import type { Schema } from './routes.js';

/** Request bodies: near-valid ones built from the route's schema and then broken, plus hostile bytes. */

export interface BodyPlan {
  bytes: Buffer;
  label: string;
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

/** Sets a key as an own property, even `__proto__`, so that JSON.stringify writes it. */
function setOwn(obj: Record<string, Json>, key: string, value: Json): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

export const oddStrings = fc.constantFrom(
  '',
  ' ',
  '0',
  '-1',
  'null',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  'prototype',
  '../../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '\u0000',
  'a\u0000b',
  '한글 메시지',
  '🙂👍🏽',
  '\ud800',
  '\udfff\ud800',
  '\u202e\u200b\ufeff',
  'x'.repeat(20_000),
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  // A log4j-style lookup: the text itself, not a template.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text is the test input
  '${jndi:ldap://127.0.0.1:1/a}',
  '{{7*7}}',
  'http://127.0.0.1:1/evil',
  '\r\n\r\nHTTP/1.1 200 OK',
  '{alpha}',
  '%00%ff',
);

const anyString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  { weight: 3, arbitrary: oddStrings },
);

/** A value of some other JSON type than the field wants. */
const wrongValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.constantFrom(-0, 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER + 2),
  anyString,
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  fc.constant([[[[[[[[[[]]]]]]]]]] as Json),
);

function valueFor(schema: Schema, ids: readonly string[], key = '', depth = 0): fc.Arbitrary<Json> {
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives?.length) return fc.oneof(...alternatives.map((s) => valueFor(s, ids, key, depth)));
  if (schema.enum?.length) return fc.constantFrom(...(schema.enum as Json[]));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  const base = ((): fc.Arbitrary<Json> => {
    switch (type) {
      case 'string':
        return stringFor(schema, ids, key);
      case 'integer':
        return fc.integer({
          min: (schema.minimum ?? -1_000) + (schema.exclusiveMinimum ? 1 : 0),
          max: schema.maximum ?? 1_000,
        });
      case 'number':
        return fc.double({
          min: schema.minimum ?? -1e6,
          max: schema.maximum ?? 1e6,
          minExcluded: schema.exclusiveMinimum === true,
          noNaN: true,
        });
      case 'boolean':
        return fc.boolean();
      case 'array': {
        if (depth > 3) return fc.constant([]);
        const minLength = schema.minItems ?? 0;
        const maxLength = Math.max(minLength, Math.min(schema.maxItems ?? 3, 3));
        return fc.array(valueFor(schema.items ?? {}, ids, key, depth + 1), { minLength, maxLength });
      }
      case 'object':
        return depth > 3 ? fc.constant({}) : objectFor(schema, ids, depth + 1);
      default:
        return fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<Json>;
    }
  })();
  return schema.nullable ? fc.option(base, { nil: null }) : base;
}

/** Mostly valid text for the field (real ids for `*_id`), sometimes one of the odd strings. */
function stringFor(schema: Schema, ids: readonly string[], key: string): fc.Arbitrary<Json> {
  const min = schema.minLength ?? 0;
  const max = Math.min(schema.maxLength ?? 40, Math.max(min, 40));
  const text = schema.pattern
    ? fc.stringMatching(new RegExp(schema.pattern, 'u'))
    : fc.string({ minLength: min, maxLength: max });
  if (key.endsWith('_id') && ids.length) return fc.oneof(fc.constantFrom(...ids), text);
  return fc.oneof({ weight: 6, arbitrary: text }, { weight: 1, arbitrary: oddStrings });
}

function objectFor(schema: Schema, ids: readonly string[], depth: number): fc.Arbitrary<Json> {
  const props = schema.properties ?? {};
  const model: Record<string, fc.Arbitrary<Json>> = {};
  for (const [k, s] of Object.entries(props)) model[k] = valueFor(s, ids, k, depth);
  return fc.record(model, { requiredKeys: schema.required ?? [] }) as fc.Arbitrary<Json>;
}

type Mutation =
  | { op: 'drop'; key: string }
  | { op: 'retype'; key: string; value: Json }
  | { op: 'extra'; key: string; value: Json }
  | { op: 'poison'; key: string; inner: string };

function mutationArb(keys: readonly string[]): fc.Arbitrary<Mutation> {
  const key = keys.length ? fc.constantFrom(...keys) : fc.constant('message');
  return fc.oneof(
    fc.record({ op: fc.constant('drop' as const), key }),
    fc.record({ op: fc.constant('retype' as const), key, value: wrongValue }),
    fc.record({
      op: fc.constant('extra' as const),
      key: fc.oneof(
        fc.constantFrom(...PROTO_KEYS, 'base_url', 'baseURL', 'url', 'host'),
        fc.string({ maxLength: 12 }),
      ),
      value: wrongValue,
    }),
    fc.record({ op: fc.constant('poison' as const), key, inner: fc.constantFrom(...PROTO_KEYS) }),
  );
}

function applyMutations(value: Json, mutations: Mutation[]): Json {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const obj: Record<string, Json> = { ...value };
  for (const m of mutations) {
    if (m.op === 'drop') delete obj[m.key];
    else if (m.op === 'retype' || m.op === 'extra') setOwn(obj, m.key, m.value);
    else {
      const inner: Record<string, Json> = {};
      setOwn(inner, m.inner, { polluted: true, toString: 'x' });
      setOwn(obj, m.key, inner);
    }
  }
  return obj;
}

const json = (v: Json, label: string): BodyPlan => ({
  bytes: Buffer.from(JSON.stringify(v) ?? 'null'),
  label,
});

// Built once: these are large, and every run that picks one shares the same buffer.
const DEPTH = 10_000;
const deepArray = Buffer.from(`${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`);
const deepObject = Buffer.from(`${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`);
const deepInField = Buffer.from(`{"message":${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}}`);
const fiveMb = Buffer.from(JSON.stringify({ message: 'x'.repeat(5 * 1024 * 1024) }));
const justOverLimit = Buffer.from(JSON.stringify({ message: '한'.repeat(100_000) }));
const underLimitTooLong = Buffer.from(JSON.stringify({ message: 'y'.repeat(200_000), name: 'n' }));
const manyKeys = Buffer.from(
  JSON.stringify(Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i]))),
);
const wideArray = Buffer.from(
  JSON.stringify({ message: 'hi', scenario: Array.from({ length: 50_000 }, () => 0) }),
);

const hostile: BodyPlan[] = [
  { bytes: deepArray, label: 'array nested 10k deep' },
  { bytes: deepObject, label: 'object nested 10k deep' },
  { bytes: deepInField, label: 'field nested 10k deep' },
  { bytes: fiveMb, label: '5 MB body' },
  { bytes: justOverLimit, label: 'just over the body limit' },
  { bytes: underLimitTooLong, label: 'under the body limit, fields too long' },
  { bytes: manyKeys, label: '20k keys' },
  { bytes: wideArray, label: '50k array items' },
  {
    bytes: Buffer.from([
      0x7b, 0x22, 0x6d, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0xa0,
      0xa1, 0xed, 0xa0, 0x80, 0x22, 0x7d,
    ]),
    label: 'invalid UTF-8 in a string',
  },
  { bytes: Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]), label: 'UTF-16 bytes' },
  { bytes: Buffer.from('\ufeff{"message":"bom"}'), label: 'BOM first' },
  {
    bytes: Buffer.from('{"message":"a","message":{"__proto__":{"x":1}}}'),
    label: 'duplicate keys, proto inside',
  },
  { bytes: Buffer.from('{"__proto__":{"isAdmin":true},"message":"hi"}'), label: '__proto__ key' },
  {
    bytes: Buffer.from('{"constructor":{"prototype":{"isAdmin":true}},"message":"hi"}'),
    label: 'constructor.prototype',
  },
  { bytes: Buffer.from('{"message":"hi",'), label: 'truncated JSON' },
  { bytes: Buffer.from('{"message":"\\ud800\\udc00\\ud800"}'), label: 'lone surrogate escape' },
  {
    bytes: Buffer.from('{"max_tokens":1e999999,"temperature":-0,"message":"x"}'),
    label: 'overflowing numbers',
  },
  { bytes: Buffer.from('{"max_tokens":123456789012345678901234567890}'), label: 'huge integer' },
  { bytes: Buffer.from('null'), label: 'null' },
  { bytes: Buffer.from('"just a string"'), label: 'a JSON string' },
  { bytes: Buffer.from('[]'), label: 'an array' },
  { bytes: Buffer.from('0'), label: 'a number' },
  { bytes: Buffer.from(''), label: 'empty' },
  { bytes: Buffer.from('\u0000\u0001\u0002'), label: 'control bytes' },
  { bytes: Buffer.from('message=hi&tts=true'), label: 'form encoded' },
  {
    bytes: Buffer.from('--x\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi\r\n--x--\r\n'),
    label: 'multipart',
  },
];

/** Bodies for a route: its schema's shape (valid, then broken) most of the time, hostile bytes otherwise. */
export function bodyArb(
  schema: Schema | undefined,
  ids: readonly string[],
  seeds: readonly Json[] = [],
): fc.Arbitrary<BodyPlan | null> {
  const fromSchema = schema ? valueFor(schema, ids) : (fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>);
  const shaped = seeds.length
    ? fc.oneof({ weight: 1, arbitrary: fromSchema }, { weight: 2, arbitrary: fc.constantFrom(...seeds) })
    : fromSchema;
  const keys = Object.keys(schema?.properties ?? {});
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 4, arbitrary: shaped.map((v) => json(v, 'schema-shaped')) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(shaped, fc.array(mutationArb(keys), { minLength: 1, maxLength: 2 }))
        .map(([v, ms]) =>
          json(applyMutations(v, ms), `mutated: ${ms.map((m) => `${m.op} ${m.key}`).join(', ')}`),
        ),
    },
    { weight: 1, arbitrary: (fc.jsonValue() as fc.Arbitrary<Json>).map((v) => json(v, 'random JSON')) },
    { weight: 2, arbitrary: fc.constantFrom(...hostile) },
  );
}

export const contentTypes = fc.oneof(
  { weight: 12, arbitrary: fc.constant('application/json') },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'APPLICATION/JSON',
      'application/json, text/plain',
      'application/merge-patch+json',
      'application/jsonx',
      'text/plain',
      'text/html',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      '*/*',
      ';;;',
      'application/json; boundary=',
      `application/json; ${'p=v; '.repeat(500)}`,
      'application/\u00ff\u00fe',
    ),
  },
  { weight: 1, arbitrary: fc.constant(null) },
);
