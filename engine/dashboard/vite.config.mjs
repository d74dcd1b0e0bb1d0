// Vite builds the dashboard into dist/dashboard (served by the engine at /dashboard/). Assets are never
// inlined (the page's CSP allows only its own files), and the JSX is Preact's (from tsconfig.json).
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/dashboard/',
  logLevel: 'warn',
  build: { outDir: '../../dist/dashboard', emptyOutDir: true, assetsInlineLimit: 0, modulePreload: { polyfill: false }, chunkSizeWarningLimit: 1024 },
});
