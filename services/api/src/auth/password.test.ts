import { readFile } from 'node:fs/promises';
import { isGatewayError } from '@gateway/contracts';
import { describe, expect, it } from 'vitest';
import {
  HASH_QUEUE_MAX,
  hashPassword,
  type ScryptParams,
  verifyAgainstNothing,
  verifyPassword,
} from './password.js';

// Small parameters keep the unit test fast; the format and checks are the same.
const fast: ScryptParams = { N: 2 ** 10, r: 8, p: 1 };

describe('password hashing', () => {
  it('verifies the right password and refuses a wrong one', async () => {
    const hash = await hashPassword('correct horse 배터리', fast);
    expect(hash).toMatch(/^scrypt\$1024\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(hash).not.toContain('correct horse');
    expect(await verifyPassword('correct horse 배터리', hash)).toBe(true);
    expect(await verifyPassword('correct horse 배터리 ', hash)).toBe(false);
    expect(await verifyPassword('', hash)).toBe(false);
  });

  it('salts every hash', async () => {
    expect(await hashPassword('same', fast)).not.toBe(await hashPassword('same', fast));
  });

  it('uses memory-hard defaults', async () => {
    const hash = await hashPassword('pw');
    const [, N, r, p] = hash.split('$').map(Number);
    expect(128 * N! * r!).toBeGreaterThanOrEqual(32 * 1024 * 1024);
    expect(p).toBeGreaterThanOrEqual(1);
  });

  it('treats Unicode forms of one password alike (NFC)', async () => {
    const hash = await hashPassword('\u1112\u1161\u11ab', fast); // 한 as conjoining jamo
    expect(await verifyPassword('한', hash)).toBe(true);
  });

  it('refuses malformed or hostile stored hashes without throwing', async () => {
    for (const bad of [
      '',
      'plain',
      'scrypt$1$8$1$aa$bb',
      'scrypt$1073741824$8$1$aaaa$bbbb',
      'bcrypt$x$y$z$a$b',
    ]) {
      expect(await verifyPassword('pw', bad)).toBe(false);
    }
  });

  it('spends work on unknown users and says no', async () => {
    expect(await verifyAgainstNothing('anything', fast)).toBe(false);
  });

  it('leaves libuv threads for files during a login flood: hashes run at most two at a time', async () => {
    // Unbounded, 20 real hashes (~0.3 s each) fill all four libuv threads and a file read waits seconds.
    const flood = Array.from({ length: 20 }, () => hashPassword('pw'));
    const t0 = performance.now();
    await readFile(import.meta.filename);
    const waited = performance.now() - t0;
    await Promise.all(flood);
    expect(waited).toBeLessThan(1_000);
  });

  it('refuses hashes beyond its waiting line with a retryable 503 instead of queueing without end', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: HASH_QUEUE_MAX + 10 }, () => hashPassword('pw', fast)),
    );
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      const err = (r as PromiseRejectedResult).reason;
      expect(isGatewayError(err) && err.code === 'server_busy' && err.status === 503).toBe(true);
    }
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(HASH_QUEUE_MAX);
  });
});
