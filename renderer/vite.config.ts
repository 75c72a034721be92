// Builds the renderer (React + zustand) into dist/renderer, served by the headless UI host and
// loaded by the Electron window. Relative asset URLs so that both http:// and the app's own
// protocol work. Run: `vite build -c renderer/vite.config.ts` (npm run build:ui).

import fs from 'node:fs';
import path from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const outDir = path.resolve(import.meta.dirname, '../dist/renderer');

/**
 * Clears only what this build writes (index.html, assets/). `emptyOutDir` would also delete what
 * `tsc` compiles into dist/renderer/src (the state slices the unit tests import).
 */
function cleanOwnOutput(): Plugin {
  return {
    name: 'bastion-clean-renderer-output',
    apply: 'build',
    buildStart() {
      fs.rmSync(path.join(outDir, 'assets'), { recursive: true, force: true });
      fs.rmSync(path.join(outDir, 'index.html'), { force: true });
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  plugins: [cleanOwnOutput()],
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir,
    emptyOutDir: false,
    target: 'es2022',
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    // The policy editor's chunk (Monaco, ~3.3 MB) is loaded only when that screen opens.
    chunkSizeWarningLimit: 4096,
  },
});
