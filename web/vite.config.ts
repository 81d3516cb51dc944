// The dashboard build: `npm run build:web` from the repository root writes web/dist, which
// `zeta serve` serves (src/api/dashboard-static.ts). Relative paths are resolved against web/.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  root: 'web',
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No inline assets: the CSP allows images and fonts from 'self' and data: only for images.
    assetsInlineLimit: 0,
    // The server's CSP has no 'unsafe-inline' for scripts; keep Vite from inlining a preload helper.
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
});
