import { spawn } from 'node:child_process';
import { ROOT, type Stack } from './stack.js';

/**
 * Makes an admin account the way an operator does (`npm run create-admin -- <name>`), against the stack's
 * Redis and key prefix: registration through the api refuses names on ADMIN_USERS.
 */
export function createAdmin(stack: Stack, username: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@gateway/source', 'services/api/src/create-admin.ts', username],
      { cwd: ROOT, env: { ...process.env, ...stack.env, ADMIN_PASSWORD: password } },
    );
    let out = '';
    const add = (c: Buffer) => {
      out += c.toString();
    };
    proc.stdout.on('data', add);
    proc.stderr.on('data', add);
    proc.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`create-admin exited ${code}: ${out}`)),
    );
  });
}
