// The renderer and Chromium for the e2e tests: build the renderer when it is stale, launch the
// system Chromium (never a downloaded one) with the flags this machine needs.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { repoRoot } from './clients.js';

/** Where the built renderer is served from. */
export const RENDERER_DIR = path.join(repoRoot(), 'dist/renderer');

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/** Builds the renderer when dist/renderer is missing or older than its sources (about 1 s). */
export function ensureRendererBuilt(): void {
  const root = repoRoot();
  const built = fs.statSync(path.join(RENDERER_DIR, 'index.html'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const newest = (dir: string): number =>
    fs
      .readdirSync(dir, { withFileTypes: true })
      .map((e) =>
        e.isDirectory() ? newest(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).mtimeMs,
      )
      .reduce((a, b) => Math.max(a, b), 0);
  const sources = Math.max(
    newest(path.join(root, 'renderer')),
    fs.statSync(path.join(root, 'shared/api.ts')).mtimeMs,
  );
  if (built >= sources) return;
  const r = spawnSync(
    path.join(root, 'node_modules/.bin/vite'),
    ['build', '-c', 'renderer/vite.config.ts', '--logLevel', 'error'],
    { cwd: root, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`vite build failed:\n${r.stderr}${r.stdout}`);
}
