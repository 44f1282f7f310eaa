import { defineConfig } from 'vite';

// Preact's JSX through Vite's own transform (no Babel, no plugin). `npm run dev:console` serves the console
// with hot reload and sends /api and /socket.io to a server started with `npm start` on :3000.
export default defineConfig({
  root: import.meta.dirname,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: true },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:3000',
      '/socket.io': { target: 'http://127.0.0.1:3000', ws: true },
    },
  },
});
