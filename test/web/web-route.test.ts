/** How the api serves the built web client, and when `npm start` rebuilds it. */
import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createLogger } from '@gateway/logger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WEB_DIR, webBuildState } from '../../packages/web/build-if-stale.js';
import type { ApiDeps } from '../../services/api/src/deps.js';
import { installErrorHandling } from '../../services/api/src/errors.js';
import { WEB_CSP, webRoutes } from '../../services/api/src/routes/web.js';

const log = createLogger({ service: 'test', level: 'silent' });
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'web-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function appFor(distDir: string): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: log as FastifyBaseLogger });
  installErrorHandling(app);
  await app.register(webRoutes, { deps: { log } as unknown as ApiDeps, distDir });
  return app;
}

describe('web routes', () => {
  let app: FastifyInstance;
  afterEach(() => app?.close());

  it('explains how to build when there is no build, instead of failing', async () => {
    app = await appFor(join(tempDir(), 'dist'));
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toContain('npm run build -w @gateway/web');
    expect((await app.inject({ url: '/assets/index-abc.js' })).statusCode).toBe(404);
  });

  describe('with a build', () => {
    let dist: string;
    beforeAll(() => {
      dist = join(tempDir(), 'dist');
      mkdirSync(join(dist, 'assets'), { recursive: true });
      writeFileSync(
        join(dist, 'index.html'),
        '<!doctype html><script type="module" src="/assets/index-abc.js"></script>',
      );
      writeFileSync(join(dist, 'assets', 'index-abc.js'), 'console.log(1)');
      writeFileSync(join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    });

    it('serves index.html revalidated on every load, with the CSP and an ETag', async () => {
      app = await appFor(dist);
      const res = await app.inject({ url: '/' });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('/assets/index-abc.js');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['content-security-policy']).toBe(WEB_CSP);
      const etag = String(res.headers.etag);
      const again = await app.inject({ url: '/', headers: { 'if-none-match': etag } });
      expect(again.statusCode).toBe(304);
      expect(again.body).toBe('');
      expect((await app.inject({ url: '/index.html' })).body).toBe(res.body);
    });

    it('serves hashed assets with a year-long immutable cache, and a 404 for unknown ones', async () => {
      app = await appFor(dist);
      const res = await app.inject({ url: '/assets/index-abc.js' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/javascript/);
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      const missing = await app.inject({ url: '/assets/index-old.js' });
      expect(missing.statusCode).toBe(404);
      expect((await app.inject({ url: '/favicon.svg' })).headers['content-type']).toMatch(/^image\/svg\+xml/);
    });
  });
});

describe('web build freshness', () => {
  it('is stale when missing or older than any source, fresh after a build', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'app', 'components'), { recursive: true });
    writeFileSync(join(dir, 'app', 'components', 'App.tsx'), 'x');
    writeFileSync(join(dir, 'index.html'), 'x');
    expect(webBuildState(dir)).toEqual({ stale: true, reason: 'missing' });

    mkdirSync(join(dir, 'dist'));
    writeFileSync(join(dir, 'dist', 'index.html'), 'built');
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(dir, 'app', 'components', 'App.tsx'), past, past);
    utimesSync(join(dir, 'index.html'), past, past);
    expect(webBuildState(dir)).toEqual({ stale: false, reason: 'up to date' });

    // A source edited after the build (deep in app/) makes it stale again.
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(dir, 'app', 'components', 'App.tsx'), later, later);
    expect(webBuildState(dir)).toEqual({ stale: true, reason: 'older than its sources' });
  });
});

describe('the built client', () => {
  it('takes only types from the contracts (no zod in the page) and stays small', () => {
    // Its own output folder: the browser tests may be building dist/ at the same time.
    const out = tempDir();
    const vite = join(
      dirname(createRequire(join(WEB_DIR, 'package.json')).resolve('vite/package.json')),
      'bin',
    );
    const run = spawnSync(
      process.execPath,
      [join(vite, 'vite.js'), 'build', '--outDir', out, '--logLevel', 'error'],
      {
        cwd: WEB_DIR,
        encoding: 'utf8',
      },
    );
    expect(run.status, run.stderr).toBe(0);
    const assets = join(out, 'assets');
    const js = readdirSync(assets)
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(join(assets, f)));
    expect(js.length).toBeGreaterThan(0);
    // A value import from @gateway/contracts would bring zod along, whose classes keep their names.
    for (const file of js) expect(file.includes('$ZodError'), 'zod is in the bundle').toBe(false);
    // 23.6 KB gzipped now (17.6 KB before the role-play screens); zod alone would add far more than the headroom.
    const gz = js.reduce((n, file) => n + gzipSync(file).length, 0);
    expect(gz).toBeLessThan(24 * 1024);
  });
});
