/*
 * The embeddable widget: `GET /widget.js` (widget/widget.js, plain dependency-free JavaScript) and the
 * socket.io browser client it loads, `GET /chat/socket.io.min.js` (the build socket.io-client ships). Both
 * are public and read once at start-up.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';

const widgetScript = readFileSync(new URL('./widget/widget.js', import.meta.url), 'utf8');
const socketClientScript = readFileSync(
  join(
    dirname(createRequire(import.meta.url).resolve('socket.io-client/package.json')),
    'dist/socket.io.min.js',
  ),
  'utf8',
);

export function widgetRoutes(app: FastifyInstance) {
  const serve = (url: string, summary: string, body: string) =>
    app.get(
      url,
      {
        config: { access: 'public' },
        schema: { tags: ['webchat'], summary, response: { 200: Type.String() } },
      },
      async (_request, reply) =>
        reply
          .header('content-type', 'application/javascript; charset=utf-8')
          .header('cache-control', 'public, max-age=300')
          // The script is embedded on customers' sites: any origin may load it.
          .header('cross-origin-resource-policy', 'cross-origin')
          .send(body),
    );
  serve(
    '/widget.js',
    'The web chat widget (one script tag; settings in window.SwitchboardChat)',
    widgetScript,
  );
  serve('/chat/socket.io.min.js', 'The socket.io browser client the widget loads', socketClientScript);
}
