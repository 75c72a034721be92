// The renderer and Chromium for the e2e tests: build the renderer when it is stale, launch the
// system Chromium (never a downloaded one) with the flags this machine needs.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { repoRoot } from './clients.js';

/** Where the built renderer is served from. */
export const RENDERER_DIR = path.join(repoRoot(), 'dist/renderer');

/**
 * Where the e2e tests save a picture of every screen: a temporary folder, never the tracked
 * docs/screenshots (refresh those on purpose with BASTION_SHOTS_DIR=docs/screenshots).
 */
export const SHOTS_DIR = process.env.BASTION_SHOTS_DIR
  ? path.resolve(process.env.BASTION_SHOTS_DIR)
  : path.join(os.tmpdir(), 'bastion-screenshots');

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

/**
 * Saves the page in the dark and light themes: <SHOTS_DIR>/<name>-dark.png, -light.png.
 * The themes are pure CSS on <html data-theme>, so this works with a dialog open too. No hover
 * effects and no toasts (they are transient, not part of the screen).
 */
export async function saveThemeShots(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SHOTS_DIR, { recursive: true });
  await page.mouse.move(1, 1);
  for (const b of await page.getByRole('button', { name: 'Dismiss' }).all()) {
    await b.click({ timeout: 300 }).catch(() => {});
  }
  for (const theme of ['dark', 'light'] as const) {
    await page.evaluate(`document.documentElement.dataset.theme = '${theme}'`);
    await page.waitForTimeout(50); // canvases (the replayer's timeline) redraw for the theme
    await page.screenshot({ path: path.join(SHOTS_DIR, `${name}-${theme}.png`) });
  }
  await page.evaluate(`document.documentElement.dataset.theme = 'dark'`);
}
