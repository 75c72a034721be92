// The UI end to end: the headless UI host (cli/ui-host.ts) over a real AppCore and a real
// PostgreSQL 18, driven in Chromium with Playwright, while node-postgres clients send traffic
// through the listener the test creates in the UI. Saves a screenshot of every screen, in both
// themes, to SHOTS_DIR (a temporary folder; BASTION_SHOTS_DIR=docs/screenshots refreshes the docs).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { startUiHost, type UiHost } from '../../cli/ui-host.js';
import { ConfigPersistence, emptyAppConfig, loadAppConfig } from '../../proxy/api/app-config.js';
import { CoreService } from '../../proxy/api/service.js';
import { FileSecretVault } from '../../proxy/api/vault.js';
import { AppCore } from '../../proxy/core.js';
import type { Logger } from '../../proxy/session/session.js';
import { ensureRendererBuilt, launchChromium, RENDERER_DIR, saveThemeShots } from '../helpers/browser.js';
import { freePort, startPostgres, type TestPostgres } from '../helpers/postgres.js';

/** Opens a WebSocket to the host's API; resolves 'open' or the HTTP status it was refused with. */
function tryWs(
  url: string,
  origin: string | undefined,
): Promise<{ ws: WebSocket | null; status: number | 'open' }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, origin ? { origin } : {});
    ws.once('open', () => resolve({ ws, status: 'open' }));
    ws.once('unexpected-response', (_req, res) => resolve({ ws: null, status: res.statusCode ?? 0 }));
    ws.once('error', () => resolve({ ws: null, status: 0 }));
  });
}

function rpc(
  ws: WebSocket,
  id: number,
  method: string,
  params: unknown[] = [],
): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const on = (raw: WebSocket.RawData) => {
      const msg = JSON.parse(String(raw)) as Record<string, unknown>;
      if (msg.id === id) {
        ws.off('message', on);
        resolve(msg);
      }
    };
    ws.on('message', on);
    ws.send(JSON.stringify({ id, method, params }));
  });
}

/** What the page functions below touch (the root tsconfig has no DOM types). */
interface PageGlobals {
  location: { search: string };
  document: {
    documentElement: { dataset: Record<string, string | undefined> };
    querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
  };
}

const quiet: Logger = { info: () => {}, warn: () => {}, error: (m) => console.error(`bastion: ${m}`) };

describe('UI (headless host, Chromium)', { timeout: 120_000 }, () => {
  let pgServer: TestPostgres;
  let dir: string;
  let core: AppCore;
  let service: CoreService;
  let host: UiHost;
  let browser: Browser;
  let page: Page;
  let listenPort: number;
  const clients: pg.Client[] = [];
  const AGENT = { name: 'agent-1', password: 'agent-1-Secret-pw' };
  const BOT = { name: 'report-bot', password: 'report-bot-Secret-pw' };

  before(async () => {
    ensureRendererBuilt();
    [pgServer, browser] = await Promise.all([startPostgres({ version: 18 }), launchChromium()]);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-ui-'));
    // A fresh install: nothing configured; everything is added through the UI.
    const config = emptyAppConfig(path.join(dir, 'bastion.app.yaml'));
    core = new AppCore(config, quiet);
    await core.start({ tolerateListenerErrors: true });
    // Approvals: the core's own queue, where its guardrails hold statements.
    service = new CoreService(core, {
      persistence: ConfigPersistence.beside(config.store),
      operator: 'ops-lead',
    });
    host = await startUiHost(service, { port: 0, staticDir: RENDERER_DIR });
    listenPort = await freePort();
    page = await browser.newPage({ viewport: { width: 1440, height: 860 }, colorScheme: 'dark' });
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  });

  after(async () => {
    for (const c of clients) await c.end().catch(() => {});
    await browser?.close();
    await host?.close();
    service?.dispose();
    await core?.stop();
    await pgServer?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async (t) => {
    // A failed step leaves a picture of the page behind, to see why.
    const failed = (t as unknown as { passed?: boolean }).passed === false;
    if (failed && page)
      await page.screenshot({ path: path.join(os.tmpdir(), `bastion-ui-failure-${Date.now()}.png`) });
  });

  const shots = (name: string) => saveThemeShots(page, name);

  async function client(who: { name: string; password: string }): Promise<pg.Client> {
    const c = new pg.Client({
      host: '127.0.0.1',
      port: listenPort,
      user: who.name,
      password: who.password,
      database: 'appdb',
    });
    c.on('error', () => {}); // the gateway ending the session (listener stopped) is expected here
    await c.connect();
    clients.push(c);
    return c;
  }

  it('refuses a missing or wrong token and a foreign origin', async () => {
    const base = `http://127.0.0.1:${host.port}`;
    assert.equal((await fetch(`${base}/`)).status, 401);
    assert.equal((await fetch(`${base}/?token=${'x'.repeat(43)}`)).status, 401);
    assert.equal((await fetch(`${base}/assets/`)).status, 401);
    const ok = await fetch(host.url);
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(ok.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
    // A page from another site that resolves its name to 127.0.0.1 (DNS rebinding).
    const rebound = await new Promise<number>((resolve, reject) => {
      const u = new URL(host.url);
      http
        .get(
          {
            host: '127.0.0.1',
            port: host.port,
            path: u.pathname + u.search,
            headers: { host: `evil.example:${host.port}` },
          },
          (r) => {
            r.resume();
            resolve(r.statusCode ?? 0);
          },
        )
        .on('error', reject);
    });
    assert.equal(rebound, 421);

    const wsUrl = (token: string) => `ws://127.0.0.1:${host.port}/api?token=${token}`;
    assert.equal((await tryWs(wsUrl('wrong'), base)).status, 401);
    assert.equal((await tryWs(`ws://127.0.0.1:${host.port}/api`, base)).status, 401);
    assert.equal((await tryWs(wsUrl(host.token), 'http://evil.example')).status, 403);
    assert.equal((await tryWs(wsUrl(host.token), `http://127.0.0.1:${host.port + 1}`)).status, 403);
    assert.equal((await tryWs(wsUrl(host.token), undefined)).status, 403);

    const { ws, status } = await tryWs(wsUrl(host.token), base);
    assert.equal(status, 'open');
    assert.deepEqual(await rpc(ws!, 1, 'listConnections'), { id: 1, result: [] });
    assert.match(JSON.stringify((await rpc(ws!, 2, 'constructor')).error), /unknown method/);
    assert.match(JSON.stringify((await rpc(ws!, 3, '__proto__')).error), /unknown method/);
    assert.match(JSON.stringify((await rpc(ws!, 4, 'dispose')).error), /unknown method/);
    assert.match(
      JSON.stringify((await rpc(ws!, 5, 'saveConnection', [{ name: '../x' }])).error),
      /not valid|must be/,
    );
    ws!.close();

    const refused = await browser.newPage();
    const res = await refused.goto(`${base}/?token=wrong`);
    assert.equal(res?.status(), 401);
    await refused.close();
  });

  it('adds a connection and identities in the UI and starts the listener', async () => {
    await page.goto(host.url);
    // The token leaves the address bar (it stays in the tab's session storage).
    await page.waitForFunction(
      () => !(globalThis as unknown as PageGlobals).location.search.includes('token'),
    );
    await page.getByText('Waiting for statements').waitFor();
    await shots('live-empty');
    // The theme button switches the theme (and back).
    await page.getByRole('button', { name: 'Switch to the light theme' }).click();
    const theme = () => (globalThis as unknown as PageGlobals).document.documentElement.dataset.theme;
    assert.equal(await page.evaluate(theme), 'light');
    await page.keyboard.press('t');
    assert.equal(await page.evaluate(theme), 'dark');

    await page.getByRole('button', { name: /^Connections/ }).click();
    await page.getByText('No databases yet').waitFor();
    await shots('connections-empty');

    await page.getByRole('button', { name: 'Add a connection' }).click();
    const form = page.getByRole('dialog', { name: 'Add a connection' });
    await form.getByLabel('Name').fill('app');
    await form.getByLabel('Listen address').fill(`127.0.0.1:${listenPort}`);
    await form.getByLabel('Host').fill('127.0.0.1');
    await form.getByLabel('Port').fill(String(pgServer.port));
    await form.getByLabel('Database').fill(pgServer.database);
    await form.getByLabel('User').fill(pgServer.user);
    await form.getByLabel('Password').fill('not-the-password');
    await form.getByLabel('SSL mode').selectOption('disable');
    await form.getByRole('button', { name: 'Test connection' }).click();
    await form.getByText(/refused the user name or password/).waitFor();
    await form.getByLabel('Password').fill(pgServer.password);
    await form.getByRole('button', { name: 'Test connection' }).click();
    await form.getByText(/Connected to PostgreSQL 18/).waitFor();
    await shots('connection-form');
    await form.getByRole('button', { name: 'Save connection' }).click();
    await form.waitFor({ state: 'detached' });
    const card = page.getByRole('article', { name: 'Connection app' });
    await card.getByText(`Listening on 127.0.0.1:${listenPort}`).waitFor();

    for (const who of [AGENT, BOT]) {
      await page.getByRole('button', { name: /Add identity/ }).click();
      const dlg = page.getByRole('dialog', { name: 'Add an identity' });
      await dlg.getByLabel('Name').fill(who.name);
      await dlg.getByLabel('Password').fill(who.password);
      assert.equal(await dlg.getByLabel('app').isChecked(), true); // the only connection is preselected
      if (who === AGENT) await shots('identity-form');
      await dlg.getByRole('button', { name: 'Save identity' }).click();
      await dlg.waitFor({ state: 'detached' });
    }
    await page.getByRole('table', { name: 'Identities' }).getByText(BOT.name).waitFor();
    await shots('connections');

    // Persisted: the app config names secrets only by reference; the vault holds them, 0600.
    const yaml = fs.readFileSync(path.join(dir, 'bastion.app.yaml'), 'utf8');
    assert.ok(!yaml.includes(pgServer.password) && !yaml.includes(AGENT.password), yaml);
    assert.match(yaml, /upstream: postgres:\/\/bastion:\$\{BASTION_UPSTREAM_app\}@127\.0\.0\.1/);
    const secrets = path.join(dir, 'bastion.secrets.json');
    assert.equal(fs.statSync(secrets).mode & 0o777, 0o600);
    const reloaded = loadAppConfig(path.join(dir, 'bastion.app.yaml'), new FileSecretVault(secrets), {});
    assert.equal(reloaded.connections[0]!.upstream.password, pgServer.password);
    assert.deepEqual(
      reloaded.identities.map((i) => [i.name, i.password, i.connections]),
      [
        [AGENT.name, AGENT.password, ['app']],
        [BOT.name, BOT.password, ['app']],
      ],
    );
    // The renderer never gets a password back.
    assert.ok(!JSON.stringify(await service.listConnections()).includes(pgServer.password));
  });

  it('shows statements live as clients run them, filters them and opens their frames', async () => {
    await page.getByRole('button', { name: /^Live/ }).click();
    await page.getByText('Waiting for statements').waitFor();

    const agent = await client(AGENT);
    await agent.query('create table customers (id serial primary key, name text, email text, country text)');
    await agent.query(
      `insert into customers (name, email, country) select 'customer ' || i, 'c' || i || '@example.com',
       (array['FR','DE','US','JP'])[1 + i % 4] from generate_series(1, 250) i`,
    );
    // The statement appears while the page is open (an event, not a reload).
    const live = page.getByRole('grid', { name: 'Statements' });
    await live.getByText('insert into customers').waitFor();

    await agent.query('create table orders (id serial primary key, customer_id int, total numeric)');
    await agent.query(
      'insert into orders (customer_id, total) select 1 + i % 250, i * 1.5 from generate_series(1, 1000) i',
    );
    await agent.query('select country, count(*) from customers group by country order by 2 desc');
    await agent.query('select * from customers where id = $1', [42]);
    await agent.query(
      'select o.id, o.total, c.email from orders o join customers c on c.id = o.customer_id limit 25',
    );
    await assert.rejects(agent.query('select * from invoices'), /does not exist/);
    const bot = await client(BOT);
    for (let i = 0; i < 6; i++)
      await bot.query(`select count(*), sum(total) from orders where total > ${i * 100}`);
    await bot.query("select name from customers where country = 'JP' order by name limit 10");

    await live.getByText("country = 'JP'").waitFor();
    await page.getByText(/\b1[3-9] statements\b/).waitFor();
    await shots('live');

    // Filter by text: only matching rows remain.
    await page.getByLabel('Filter statements').fill('orders');
    await page.waitForFunction(() =>
      Array.from(
        (globalThis as unknown as PageGlobals).document.querySelectorAll(
          '[aria-label="Statements"] .vrow .sql',
        ),
      ).every((e) => /orders/i.test(e.textContent ?? '')),
    );
    const shown = await live.locator('.vrow').count();
    assert.ok(shown >= 8, `rows shown for "orders": ${shown}`);
    await page.getByLabel('Identity').selectOption(BOT.name);
    await page.waitForFunction(
      () =>
        (globalThis as unknown as PageGlobals).document.querySelectorAll('[aria-label="Statements"] .vrow')
          .length === 6,
    );
    await shots('live-filtered');
    await page.getByLabel('Identity').selectOption('');
    await page.getByLabel('Filter statements').fill('');
    await page.getByLabel('Decision').selectOption('error');
    await live.getByText('42P01').waitFor();
    assert.equal(await live.locator('.vrow').count(), 1);
    await page.getByLabel('Decision').selectOption('');

    // Open a statement: its frames, decoded.
    await live.getByText('select * from customers where id = $1').click();
    const detail = page.getByRole('complementary', { name: 'Statement' });
    await detail.getByText('$1').first().waitFor();
    const frames = detail.getByLabel('Frames');
    for (const type of ['Bind', 'Execute', 'RowDescription', 'DataRow', 'CommandComplete']) {
      await frames.getByText(type, { exact: true }).first().waitFor();
    }
    await frames.getByText('DataRow', { exact: true }).click();
    // The default policy's email detector masked the value before it left the gateway: the
    // recording (and so the UI) holds only what the client got.
    await detail.getByText('c***@example.com').first().waitFor();
    assert.equal(await detail.getByText('c42@example.com').count(), 0);
    await shots('statement');
    await page.keyboard.press('Escape');
    await detail.waitFor({ state: 'detached' });
  });

  it('approves and denies held statements from the UI while the clients wait', async () => {
    // The built-in policy holds DELETE and UPDATE without a WHERE clause for review.
    const agent = await client(AGENT);
    await agent.query("set bastion.reason = 'clearing the test orders before the import'");
    await agent.query('select count(*) from orders');
    await agent.query('select id, total from orders where total > 1400 order by total desc limit 5');
    const deleting = agent.query('delete from orders');
    const bot = await client(BOT);
    await bot.query("select name from customers where country = 'DE' limit 3");
    const updating = bot.query("update customers set country = 'FR'");
    let settled = false;
    void Promise.allSettled([deleting, updating]).then(() => {
      settled = true;
    });

    const badge = page.getByRole('button', { name: /^Approvals/ });
    await badge.getByTitle('2 pending').waitFor();
    await badge.click();
    const detail = page.getByRole('region', { name: 'Approval' });
    await detail.getByText('delete from orders').waitFor();
    await detail.getByText('clearing the test orders before the import', { exact: true }).waitFor();
    await detail.getByText('select id, total from orders where total > 1400').waitFor();
    await page
      .getByText(/\d:\d\d left/)
      .first()
      .waitFor();
    await shots('approvals');
    assert.equal(settled, false, 'both clients are still waiting');

    await detail.getByRole('button', { name: 'Approve' }).click();
    const deleted = await deleting;
    assert.equal(deleted.rowCount, 1000);

    await detail.getByText("update customers set country = 'FR'").waitFor();
    await page.getByLabel('Decide as').fill('dana');
    await page.locator('body').click({ position: { x: 700, y: 10 } });
    await page.keyboard.press('d');
    await assert.rejects(updating, /denied/);

    await page.getByText('Nothing is waiting for a decision').waitFor();
    await shots('approvals-empty');
    await page.getByRole('tab', { name: /History/ }).click();
    await page.getByRole('cell', { name: 'dana' }).waitFor();
    const history = await service.listApprovals();
    assert.deepEqual(
      history.map((a) => [a.sql, a.state, a.decidedBy]),
      [
        ["update customers set country = 'FR'", 'denied', 'dana'],
        ['delete from orders', 'approved', 'ops-lead'], // the host's operator: the UI named nobody
      ],
    );
    await shots('approvals-history');
    await page.getByRole('cell', { name: 'dana' }).click();
    await page
      .getByRole('region', { name: 'Approval' })
      .getByText("update customers set country = 'FR'")
      .waitFor();
    await shots('approval-decided');

    // The live inspector shows both as held for review.
    await page.getByRole('button', { name: /^Live/ }).click();
    await page.getByLabel('Decision').selectOption('review');
    await page.getByRole('grid', { name: 'Statements' }).getByText('delete from orders').waitFor();
    await page.getByLabel('Decision').selectOption('');
  });

  it('stops and starts a listener from the UI', async () => {
    await page.getByRole('button', { name: /^Connections/ }).click();
    const card = page.getByRole('article', { name: 'Connection app' });
    await card.getByRole('button', { name: 'Stop' }).click();
    await card.getByText('Stopped').waitFor();
    await assert.rejects(client(AGENT), /ECONNREFUSED/);
    await card.getByRole('button', { name: 'Start' }).click();
    await card.getByText(`Listening on 127.0.0.1:${listenPort}`).waitFor();
    const c = await client(AGENT);
    assert.equal((await c.query('select 1 as one')).rows[0].one, 1);

    // Editing without retyping the password keeps the stored one (the UI never had it).
    await card.getByRole('button', { name: 'Edit' }).click();
    const form = page.getByRole('dialog', { name: 'Edit app' });
    assert.equal(await form.getByLabel('Password').getAttribute('placeholder'), 'stored: blank keeps it');
    assert.equal(await form.getByLabel('Password').inputValue(), '');
    await form.getByLabel('SSL mode').selectOption('prefer');
    await form.getByRole('button', { name: 'Save connection' }).click();
    await form.waitFor({ state: 'detached' });
    await card.getByText(/sslmode=prefer/).waitFor();
    await card.getByText(`Listening on 127.0.0.1:${listenPort}`).waitFor();
    const again = await client(AGENT); // the listener restarted with the stored upstream password
    assert.equal((await again.query('select 2 as two')).rows[0].two, 2);
    await page.keyboard.press('?');
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
    await shots('shortcuts');
    await page.keyboard.press('Escape');
  });

  it('runs the same renderer over the desktop bridge (window.bastion, as the Electron preload exposes it)', async () => {
    // A stand-in for the preload's contextBridge object: the renderer must pick the IPC
    // transport, call through `call` (outcomes as the dispatcher gives them), take events from
    // `subscribe` and routes from `onNavigate`.
    const bridge = `
      (() => {
        const listeners = new Set(), navs = new Set();
        const conn = { name: 'desk', listen: '127.0.0.1:7000', upstream: 'postgres://u@db:5432/x?sslmode=require',
          hasUpstreamPassword: true, tls: 'self-signed', state: 'listening', error: null, activeSessions: 1, address: '127.0.0.1:7000' };
        window.bastion = {
          call: async (method) => ({ result: method === 'listConnections' ? [conn] : [] }),
          subscribe(l) { listeners.add(l); return () => listeners.delete(l); },
          onNavigate(l) { navs.add(l); return () => navs.delete(l); },
        };
        window.__emit = (e) => listeners.forEach((l) => l(e));
        window.__navigate = (r) => navs.forEach((l) => l(r));
      })();`;
    const desk = await browser.newPage({ viewport: { width: 1200, height: 700 } });
    try {
      await desk.addInitScript({ content: bridge });
      await desk.goto(host.url); // only to load the built renderer: it must not open the WebSocket
      await desk.getByText('Connected · desktop').waitFor();
      const statement = {
        sessionId: 'd1',
        seq: 1,
        protocol: 'simple',
        sql: 'select 42 as over_ipc',
        params: null,
        startedAt: Date.now() * 1000,
        durationUs: 900,
        rows: 1,
        tag: 'SELECT 1',
        errorCode: null,
        errorMessage: null,
        decision: 'allow',
        rule: null,
        firstFrame: 1,
        lastFrame: 4,
        truncated: false,
        uncapturedBytes: 0,
        uncapturedRows: 0,
        uncapturedDigest: null,
        masked: {},
        identity: 'desk-agent',
        connection: 'desk',
      };
      await desk.evaluate(`window.__emit(${JSON.stringify({ event: 'statement', data: statement })})`);
      await desk.getByRole('grid', { name: 'Statements' }).getByText('select 42 as over_ipc').waitFor();
      await desk.evaluate(`window.__navigate('#/connections')`);
      await desk.getByRole('article', { name: 'Connection desk' }).waitFor();
    } finally {
      await desk.close();
    }
  });
});
