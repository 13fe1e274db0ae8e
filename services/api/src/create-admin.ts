/**
 * `npm run create-admin -- <username> [--promote]`: the only way to make an admin. Registration refuses
 * the names on ADMIN_USERS, so nobody can claim one before the operator does. Creates the account with
 * the password in ADMIN_PASSWORD (or the first line of stdin) and marks it admin in its server-side
 * record; `--promote` marks an existing account instead (only when you know who registered it).
 */
import { createInterface } from 'node:readline';
import { loadConfigOrExit } from '@gateway/config';
import { isGatewayError, Registration } from '@gateway/contracts';
import { createKeys, createRedis } from '@gateway/queue';
import { normalizeUsername, UserStore } from './auth/users.js';

const args = process.argv.slice(2);
const promote = args.includes('--promote');
const username = args.find((a) => !a.startsWith('--'));
const config = loadConfigOrExit();

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

if (!username) fail('usage: npm run create-admin -- <username> [--promote]');
if (!config.auth.adminUsers.map(normalizeUsername).includes(normalizeUsername(username))) {
  fail(`"${username}" is not on ADMIN_USERS; add it there first (the api reads the list at start)`);
}

async function readPassword(): Promise<string> {
  if (process.env.ADMIN_PASSWORD) return process.env.ADMIN_PASSWORD;
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) return line;
  return '';
}

const redis = createRedis(config.redis.url, 'command');
const users = new UserStore(redis, createKeys(config.redis.prefix));
try {
  if (promote) {
    if (!(await users.promote(username))) fail(`no account named "${username}"`);
    console.log(`"${username}" is now an admin`);
  } else {
    const parsed = Registration.safeParse({ username, password: await readPassword() });
    if (!parsed.success) fail(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const user = await users.register(parsed.data.username, parsed.data.password, { admin: true });
    console.log(`admin "${user.username}" created (id ${user.id})`);
  }
} catch (err) {
  fail(isGatewayError(err) ? `${err.code}: ${err.message}` : String(err));
} finally {
  redis.disconnect();
}
