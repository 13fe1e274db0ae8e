import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '@gateway/contracts';
import pLimit from 'p-limit';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/**
 * One of OWASP's equivalent scrypt minimums (N=2^15, r=8, p=3): 32 MiB per hash rather than the 128 MiB
 * of N=2^17, paid in CPU instead (~0.2 s), because hashes run on the api's few libuv threads.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 3 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;
// Stored hashes with absurd parameters (a corrupted record) must not let one login eat the machine.
const MAX_N = 2 ** 20;

/**
 * Hashes share libuv's four threads with file reads (static files, audio), DNS and zlib. Unbounded, a
 * flood of logins or sign-ups takes all four and every file read waits behind them for seconds. Two at
 * a time leaves the other two free; the rest wait in a bounded line, and beyond it the caller is told to
 * come back (503 `server_busy`, Retry-After) instead of piling up work no one will wait for.
 */
const HASH_CONCURRENCY = 2;
/** About 5 s of waiting at ~0.3 s a hash, two at a time. */
export const HASH_QUEUE_MAX = 32;
const hashing = pLimit(HASH_CONCURRENCY);

const derive = (password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> => {
  if (hashing.pendingCount >= HASH_QUEUE_MAX) {
    return Promise.reject(
      new GatewayError('server_busy', 'too many sign-ins at once; try again in a few seconds', {
        retryAfter: 5,
      }),
    );
  }
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return hashing(
    () =>
      new Promise<Buffer>((resolve, reject) => {
        scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (err, key) =>
          err ? reject(err) : resolve(key),
        );
      }),
  );
};

/** `scrypt$N$r$p$salt$hash` (base64url): the parameters travel with the hash, so they can be raised later. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join(
    '$',
  );
}

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every(Number.isSafeInteger) || N < 2 || N > MAX_N || r < 1 || r > 32 || p < 1 || p > 16) {
    return false;
  }
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (expected.length !== KEY_BYTES) return false;
  const actual = await derive(password, salt, { N, r, p });
  return timingSafeEqual(actual, expected);
}

let dummy: Promise<string> | null = null;

/**
 * Spends the same work as a real check and answers false: used when the username is unknown, so that
 * the response time does not tell which usernames exist.
 */
export async function verifyAgainstNothing(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT,
): Promise<false> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'), params);
  await verifyPassword(password, await dummy);
  return false;
}
