import { defineConfig } from 'vite';

// Built to web/dist with relative asset paths, so the same files work under the API's /app/ in local
// mode and at any path on a CDN. VITE_API_BASE_URL (build time) is the API's origin; empty: same origin.
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', reportCompressedSize: true },
});
