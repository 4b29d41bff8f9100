import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// The console, admin portal and wallboard: one app served by `switchboard` from web/dist.
export default defineConfig({
  plugins: [preact()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false },
  server: { proxy: { '/api': { target: 'http://localhost:8080', ws: true }, '/chat': { target: 'http://localhost:8080', ws: true } } },
  test: { environment: 'node', include: ['src/**/*.test.ts', 'src/**/*.test.tsx'] },
} as never);
