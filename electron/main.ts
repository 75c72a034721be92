// Bastion's desktop app: the Electron main process hosts the gateway (AppCore) and the API
// (CoreService), carries the API to the window over IPC (one ipcMain.handle for every call, answered
// by the one API dispatcher; events in batches with webContents.send), keeps a tray icon with the count of pending approvals, and shows a
// native notification for every held statement (click: open it; Approve / Deny where the
// platform has notification actions). Upstream credentials are kept with safeStorage.
// The window: contextIsolation on, nodeIntegration off, sandboxed, strict CSP, its own protocol.

import fs from 'node:fs';
import path from 'node:path';
import {
  app,
  BrowserWindow,
  type IpcMainInvokeEvent,
  ipcMain,
  Menu,
  Notification,
  nativeImage,
  protocol,
  session,
  shell,
  Tray,
} from 'electron';
import { ConfigPersistence, emptyAppConfig, loadAppConfig } from '../proxy/api/app-config.js';
import { createDispatcher } from '../proxy/api/dispatcher.js';
import { EventBatcher } from '../proxy/api/event-batch.js';
import { CoreService } from '../proxy/api/service.js';
import type { GatewayConfig } from '../proxy/config/types.js';
import { AppCore, consoleLogger } from '../proxy/core.js';
import { applyGatewayProcessSettings } from '../proxy/runtime.js';
import type { Approval } from '../shared/api.js';
import type { RpcOutcome } from '../shared/rpc.js';
import { appVault } from './vault.js';

const SCHEME = 'bastion';
const ORIGIN = `${SCHEME}://app`;
const RENDERER_DIR = path.resolve(import.meta.dirname, '../renderer');
const PRELOAD = path.join(import.meta.dirname, 'preload.cjs');
const ICON = path.resolve(import.meta.dirname, '../../electron/assets/icon.png');
const TRAY_ICON = path.resolve(import.meta.dirname, '../../electron/assets/tray.png');

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // Inline styles: the policy editor (Monaco) writes its theme and decorations into <style> elements.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

// The gateway's process settings, before the core loads its parser (no re-execution: this process
// is Electron's own, started by the desktop, not a `node` to run again with flags).
applyGatewayProcessSettings({ reexec: false });

// Must happen before 'ready': the renderer's own origin, treated like https (secure, standard).
protocol.registerSchemesAsPrivileged([
  { scheme: SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
]);

let core: AppCore | null = null;
let service: CoreService | null = null;
let win: BrowserWindow | null = null;
let tray: Tray | null = null;
let quitting = false;
const pending = new Map<string, Approval>();
const notifications = new Map<string, Notification>();

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => showWindow());
  app.whenReady().then(start, (e: Error) => fail(e));
}

function fail(e: Error): void {
  consoleLogger.error(e.stack ?? e.message);
  app.exit(1);
}

async function start(): Promise<void> {
  const dir = app.getPath('userData');
  fs.mkdirSync(dir, { recursive: true });
  const { vault, encrypted } = appVault(dir);
  if (!encrypted) {
    consoleLogger.warn(
      'the OS keychain is not available: secrets are kept in a file only this user can read (0600)',
    );
  }
  const file = path.join(dir, 'bastion.app.yaml');
  let config: GatewayConfig;
  try {
    config = fs.existsSync(file) ? loadAppConfig(file, vault) : emptyAppConfig(file);
  } catch (e) {
    consoleLogger.error(`${(e as Error).message}: starting with no connections`);
    config = emptyAppConfig(path.join(dir, 'bastion.app.recovered.yaml'));
    config.store = path.join(dir, 'bastion.db');
  }

  core = new AppCore(config);
  await core.start({ tolerateListenerErrors: true });
  // Approvals come from the core's queue (statements its guardrails hold).
  service = new CoreService(core, { persistence: new ConfigPersistence(file, vault) });

  serveRenderer();
  lockDown();
  exposeApi(service);
  createTray();
  showWindow();
}

/** The renderer's files over bastion://app/, each response with the CSP. */
function serveRenderer(): void {
  protocol.handle(SCHEME, async (request) => {
    const url = new URL(request.url);
    if (url.host !== 'app') return new Response('not found', { status: 404 });
    const rel = decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname);
    const file = path.resolve(RENDERER_DIR, `.${path.posix.normalize(rel)}`);
    if (!file.startsWith(RENDERER_DIR + path.sep)) return new Response('not found', { status: 404 });
    try {
      const body = await fs.promises.readFile(file);
      return new Response(body, {
        headers: {
          'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
          'Content-Security-Policy': CSP,
          'X-Content-Type-Options': 'nosniff',
        },
      });
    } catch {
      return new Response('not found', { status: 404 });
    }
  });
}

/** No permissions, no navigation away, no new windows (links open in the browser). */
function lockDown(): void {
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  app.on('web-contents-created', (_e, contents) => {
    contents.on('will-navigate', (e, url) => {
      if (!url.startsWith(`${ORIGIN}/`)) e.preventDefault();
    });
    contents.setWindowOpenHandler(({ url }) => {
      if (/^https?:\/\//.test(url)) void shell.openExternal(url);
      return { action: 'deny' };
    });
    contents.on('will-attach-webview', (e) => e.preventDefault());
  });
}

function trusted(e: IpcMainInvokeEvent): boolean {
  return !!e.senderFrame && e.senderFrame.url.startsWith(`${ORIGIN}/`);
}

/** Every call through the one dispatcher, and the event streams to the window in batches. */
function exposeApi(api: CoreService): void {
  const dispatch = createDispatcher(api, { log: (m) => consoleLogger.warn(m) });
  ipcMain.handle('bastion:call', (e, method: unknown, params: unknown): Promise<RpcOutcome> | RpcOutcome => {
    if (!trusted(e)) return { error: { message: 'refused: not the Bastion window', code: 'refused' } };
    return dispatch(method, params);
  });

  const events = new EventBatcher((batch) => {
    if (win && !win.isDestroyed()) win.webContents.send('bastion:events', batch);
  });
  api.subscribe((e) => {
    events.push(e);
    if (e.event === 'approval-changed') onApproval(e.data);
  });
  void api.listApprovals('pending').then((list) => {
    for (const a of list) pending.set(a.id, a);
    updateTray();
  });
}

function showWindow(route?: string): void {
  if (!app.isReady()) return;
  if (!win || win.isDestroyed()) {
    win = new BrowserWindow({
      width: 1360,
      height: 860,
      minWidth: 960,
      minHeight: 600,
      title: 'Bastion',
      icon: fs.existsSync(ICON) ? ICON : undefined,
      backgroundColor: '#0d1016',
      show: false,
      webPreferences: {
        preload: PRELOAD,
        contextIsolation: true,
        nodeIntegration: false,
        sandbox: true,
        webSecurity: true,
        spellcheck: false,
      },
    });
    const w = win;
    w.once('ready-to-show', () => w.show());
    // Closing the window keeps the gateway running in the tray; Quit (tray, menu) stops it.
    w.on('close', (e) => {
      if (!quitting) {
        e.preventDefault();
        w.hide();
      }
    });
    void w.loadURL(`${ORIGIN}/index.html${route ?? ''}`);
    return;
  }
  if (route) win.webContents.send('bastion:navigate', route);
  if (win.isMinimized()) win.restore();
  win.show();
  win.focus();
}

function openApproval(id: string): void {
  showWindow(`#/approvals/${encodeURIComponent(id)}`);
}

function onApproval(a: Approval): void {
  if (a.state === 'pending') {
    const isNew = !pending.has(a.id);
    pending.set(a.id, a);
    if (isNew) notify(a);
  } else {
    pending.delete(a.id);
    notifications.get(a.id)?.close();
    notifications.delete(a.id);
  }
  updateTray();
}

function notify(a: Approval): void {
  if (!Notification.isSupported()) return;
  const sql = a.sql.replace(/\s+/g, ' ').trim();
  const n = new Notification({
    title: `Held for review: ${a.identity} on ${a.connection}`,
    body: `${sql.length > 180 ? `${sql.slice(0, 180)}…` : sql}\n${a.reason}`,
    urgency: 'critical',
    timeoutType: 'never',
    // Buttons where the platform has them (macOS); elsewhere a click opens the approval.
    actions:
      process.platform === 'darwin'
        ? [
            { type: 'button', text: 'Approve' },
            { type: 'button', text: 'Deny' },
          ]
        : [],
  });
  n.on('click', () => openApproval(a.id));
  n.on('action', (_e, index) => {
    service?.decideApproval(a.id, index === 0 ? 'approve' : 'deny', '').catch((err: Error) => {
      consoleLogger.error(`could not decide ${a.id}: ${err.message}`);
      openApproval(a.id);
    });
  });
  n.on('close', () => notifications.delete(a.id));
  notifications.set(a.id, n);
  n.show();
}

function createTray(): void {
  const image = fs.existsSync(TRAY_ICON) ? nativeImage.createFromPath(TRAY_ICON) : nativeImage.createEmpty();
  if (process.platform === 'darwin') image.setTemplateImage(true);
  tray = new Tray(image);
  tray.on('click', () => showWindow());
  updateTray();
}

function updateTray(): void {
  const n = pending.size;
  app.setBadgeCount(n);
  if (!tray) return;
  const label = n === 0 ? 'No pending approvals' : `${n} pending approval${n === 1 ? '' : 's'}`;
  tray.setToolTip(`Bastion: ${label}`);
  if (process.platform === 'darwin') tray.setTitle(n > 0 ? String(n) : '');
  const oldest = [...pending.values()].sort((a, b) => a.expiresAt - b.expiresAt)[0];
  tray.setContextMenu(
    Menu.buildFromTemplate([
      { label: 'Open Bastion', click: () => showWindow() },
      {
        label,
        enabled: n > 0,
        click: () => (oldest ? openApproval(oldest.id) : showWindow('#/approvals')),
      },
      { type: 'separator' },
      { label: 'Quit Bastion', click: () => app.quit() },
    ]),
  );
}

app.on('activate', () => showWindow());
app.on('window-all-closed', () => {
  // Stay in the tray: the gateway keeps running until Quit.
});

let stopped = false;
app.on('before-quit', (e) => {
  quitting = true;
  if (stopped || !core) return;
  e.preventDefault();
  const c = core;
  core = null;
  service?.dispose();
  c.stop()
    .catch((err: Error) => consoleLogger.error(`stop failed: ${err.message}`))
    .finally(() => {
      stopped = true;
      app.quit();
    });
});
