/**
 * Builds the web client (Vite) when `dist/` is missing or older than its sources, so that `npm start`
 * always serves the page that matches the code. Plain Node: run through tsx, no bundler types needed.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_DIR = fileURLToPath(new URL('.', import.meta.url));
const SOURCES = ['app', 'public', 'index.html', 'vite.config.ts', 'package.json', 'tsconfig.json'];

const mtimeOf = (path: string): number | null => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null;
  }
};

/** The newest modification time among the client's sources (files under `app/` and `public/` included). */
export function newestSourceMtime(dir = WEB_DIR): number {
  let newest = 0;
  const visit = (path: string) => {
    const s = statSync(path, { throwIfNoEntry: false });
    if (!s) return;
    if (s.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
    else newest = Math.max(newest, s.mtimeMs);
  };
  for (const entry of SOURCES) visit(join(dir, entry));
  return newest;
}

export interface WebBuildState {
  stale: boolean;
  reason: 'missing' | 'older than its sources' | 'up to date';
}

export function webBuildState(dir = WEB_DIR): WebBuildState {
  const built = mtimeOf(join(dir, 'dist', 'index.html'));
  if (built === null) return { stale: true, reason: 'missing' };
  return built < newestSourceMtime(dir)
    ? { stale: true, reason: 'older than its sources' }
    : { stale: false, reason: 'up to date' };
}

export interface BuildResult {
  built: boolean;
  ok: boolean;
  reason: WebBuildState['reason'];
  ms: number;
}

/**
 * Runs `vite build` in the web package when needed. A failed build does not throw: the api then answers
 * `/` with a page that says how to build, and the rest of the gateway works as before.
 */
export function buildWebIfStale(
  opts: { dir?: string; log?: (msg: string, extra?: Record<string, unknown>) => void } = {},
): BuildResult {
  const dir = opts.dir ?? WEB_DIR;
  const log = opts.log ?? ((msg: string) => console.log(msg));
  const state = webBuildState(dir);
  if (!state.stale) return { built: false, ok: true, reason: state.reason, ms: 0 };
  const started = Date.now();
  log('building the web client', { reason: state.reason });
  const vitePkg = createRequire(join(dir, 'package.json')).resolve('vite/package.json');
  const run = spawnSync(
    process.execPath,
    [join(dirname(vitePkg), 'bin', 'vite.js'), 'build', '--logLevel', 'warn'],
    {
      cwd: dir,
      stdio: 'inherit',
    },
  );
  const ok = run.status === 0;
  const ms = Date.now() - started;
  log(ok ? 'web client built' : 'web client build failed; / will explain how to build it', {
    ms,
    status: run.status,
  });
  return { built: ok, ok, reason: state.reason, ms };
}
