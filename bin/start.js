#!/usr/bin/env node
// `npm start`: the desktop app where Electron's binary is installed, else the headless host
// (`bastion serve`, which prints the UI's URL). Arguments are passed on to either.
//
// Electron's binary is looked up the way node_modules/electron/index.js does, but without
// calling it: `require('electron')` downloads the binary when it is missing.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);

function electronBinary() {
  try {
    const dir = path.dirname(createRequire(import.meta.url).resolve('electron/package.json'));
    const rel = fs.readFileSync(path.join(dir, 'path.txt'), 'utf8').trim();
    const base = process.env.ELECTRON_OVERRIDE_DIST_PATH ?? path.join(dir, 'dist');
    const bin = path.join(base, rel);
    return fs.existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

function run(cmd, argv) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

/** Runs a child in the foreground and exits with its code; Ctrl-C reaches it directly. */
function foreground(cmd, argv) {
  const child = spawn(cmd, argv, { cwd: process.cwd(), stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

const tool = (name) => path.join(root, 'node_modules', '.bin', name);
const electron = electronBinary();
if (electron) {
  if (!fs.existsSync(path.join(root, 'dist/renderer/index.html')))
    run(tool('vite'), ['build', '-c', 'renderer/vite.config.ts']);
  run(tool('tsc'), ['-p', 'electron/tsconfig.json']);
  foreground(electron, [path.join(root, 'dist/electron/main.js'), ...args]);
} else {
  console.error(
    'bastion: the Electron binary is not installed (node_modules/electron has no dist/), so this starts the headless host instead: open the URL it prints.',
  );
  if (!fs.existsSync(path.join(root, 'dist/renderer/index.html')))
    run(tool('vite'), ['build', '-c', 'renderer/vite.config.ts']);
  foreground(process.execPath, [path.join(root, 'bin/bastion.js'), 'serve', ...args]);
}
