import { defineConfig } from 'vite';

// Plain Vite with esbuild's JSX (no Babel): a smaller toolchain, and the same output for a production build.
export default defineConfig({
  root: import.meta.dirname,
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    // The polyfill is an inline-free module, but modern browsers need none: keep the bundle small.
    modulePreload: { polyfill: false },
    // Inlined assets become data: URLs, which a strict CSP (img-src 'self') refuses.
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
  server: { proxy: { '^/(auth|characters|chat|conversations|models)': 'http://127.0.0.1:8080' } },
});
