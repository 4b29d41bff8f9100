import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// The chat widget: one self-contained script (`/widget.js`) that tenants paste on their sites.
export default defineConfig({
  plugins: [preact()],
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    sourcemap: false,
    lib: { entry: 'src/widget/main.tsx', name: 'SwitchboardChat', formats: ['iife'], fileName: () => 'widget.js' },
    rollupOptions: { output: { inlineDynamicImports: true } },
  },
});
