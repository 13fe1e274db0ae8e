// Helpers for this package's tests (not exported from index.ts).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository's recorded backend bodies (fixtures/README.md names each file's source). */
export const FIXTURES = join(import.meta.dirname, '../../../fixtures');

export function fixtureText(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

/** Key order of an object tree: objects become [key, shape][], arrays the shape of item 0. */
export type Shape = string | Shape[] | [string, Shape][];
export function shape(v: unknown): Shape {
  if (Array.isArray(v)) return v.length === 0 ? [] : [shape(v[0])];
  if (typeof v === 'object' && v !== null)
    return Object.entries(v).map(([k, x]) => [k, shape(x)] as [string, Shape]);
  return v === null ? 'null' : typeof v;
}

/** Key names only, in order, recursively (values' types ignored: null vs string varies). */
export function keyTree(v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 0 ? [] : [keyTree(v[0])];
  if (typeof v === 'object' && v !== null) return Object.entries(v).map(([k, x]) => [k, keyTree(x)]);
  return '.';
}

/** SSE payloads (the text after `data: `) of a complete body. */
export function sseEvents(body: string): string[] {
  return body
    .split('\n\n')
    .filter((e) => e !== '')
    .map((e) => {
      if (!e.startsWith('data: ')) throw new Error(`not an SSE data event: ${e}`);
      return e.slice(6);
    });
}

export function ndjson(body: string): Record<string, unknown>[] {
  return body
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function postJson(url: string, body: unknown, init?: RequestInit): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

/** Polls until `check` is true (or throws after `ms`). */
export async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(5);
  }
}

export const HELLO = [
  { role: 'system', content: '너는 친절한 대화 상대야. 짧게 답해.' },
  { role: 'user', content: '안녕! 만나서 반가워.' },
];
