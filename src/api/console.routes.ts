import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/*
 * The agent console (web-console/, built by Vite into web-console/dist) at `/`, and the same page at
 * `/supervisor` (the console shows the supervisor dashboard there). Only the files of the build
 * are routes (`wildcard: false`), so /api, /docs, /socket.io, /health and a 404 for anything else stay as
 * they are. These routes declare no `config.access`: the guard (auth.guard.ts) governs /api only, and the
 * console's files are public (the page asks /api/auth/me who is logged in). Hashed assets are cached for
 * good; index.html is revalidated so that a new build is picked up at once. Without a build (`npm start`
 * builds one first; tests that don't need it skip it), `/` says how to make one.
 */
export const consoleDistDir = join(import.meta.dirname, '..', '..', 'web-console', 'dist');

export async function consoleRoutes(app: FastifyInstance, distDir: string = consoleDistDir) {
  if (!existsSync(join(distDir, 'index.html'))) {
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .send(
          '<!doctype html><meta charset="utf-8"><title>Switchboard</title>' +
            '<h1>Switchboard</h1><p>The console is not built: run <code>npm run build:console</code>. ' +
            '<a href="/docs">API documentation</a> · <a href="/ready">readiness</a></p>',
        ),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root: distDir,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    schemaHide: true,
    setHeaders: (res, path) => {
      res.setHeader(
        'cache-control',
        path.includes(`${join(distDir, 'assets')}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
  app.get('/supervisor', { schema: { hide: true } }, async (_request, reply) =>
    reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false }),
  );
}
