import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { GatewayError } from '@gateway/contracts';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../deps.js';

/** Where `npm run build -w @gateway/web` writes the web client. */
export const WEB_DIST_DIR = fileURLToPath(new URL('../../../../packages/web/dist/', import.meta.url));

/** The page needs nothing from elsewhere: scripts, styles and speech all come from this origin. */
export const WEB_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Web client not built</title></head>
<body><h1>The web client is not built yet</h1>
<p>Run <code>npm run build -w @gateway/web</code> (or <code>npm start</code>, which builds it), then reload.</p>
<p lang="ko">웹 클라이언트가 아직 빌드되지 않았습니다. <code>npm run build -w @gateway/web</code>를 실행한 뒤 새로고침하세요.</p>
</body></html>
`;

/**
 * Serves the web client (packages/web) at `/`: hashed assets under /assets with a year-long immutable
 * cache, `index.html` revalidated on every load so that a new build is picked up at once. The files are
 * read from disk on each request, so a build made while the api runs is served without a restart.
 */
export const webRoutes: FastifyPluginAsync<{ deps: ApiDeps; distDir?: string }> = async (app, opts) => {
  const dist = opts.distDir ?? WEB_DIST_DIR;
  const indexFile = join(dist, 'index.html');
  if (!(await exists(indexFile))) {
    opts.deps.log.warn(
      { dir: dist },
      'web client not built: / explains how; run npm run build -w @gateway/web',
    );
  }

  await app.register(fastifyStatic, {
    root: join(dist, 'assets'),
    prefix: '/assets/',
    index: false,
    decorateReply: false,
    suppressWarning: true,
    cacheControl: true,
    maxAge: '365d',
    immutable: true,
  });

  const page = async (req: FastifyRequest, reply: FastifyReply) => {
    const info = await stat(indexFile).catch(() => null);
    if (!info) {
      return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(NOT_BUILT);
    }
    const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    reply
      .header('cache-control', 'no-cache')
      .header('etag', etag)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer');
    // A policy set for the whole api (helmet) stands; otherwise the page brings its own.
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', WEB_CSP);
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('text/html; charset=utf-8').send(await readFile(indexFile));
  };
  const hidden = { schema: { hide: true } };
  app.get('/', hidden, page);
  app.get('/index.html', hidden, page);
  app.get('/favicon.svg', hidden, async (_req, reply) => {
    const svg = await readFile(join(dist, 'favicon.svg')).catch(() => null);
    if (!svg) throw new GatewayError('not_found', 'no favicon: the web client is not built');
    return reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(svg);
  });
};

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );
