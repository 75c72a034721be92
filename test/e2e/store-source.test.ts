// The Store screen end to end (issue 11, team mode): an operator's app (a real AppCore on its own
// local store, no connections) served by the headless UI host, driven in Chromium, opens a real
// shared PostgreSQL store that two real team-mode gateways ship into, with its own role and
// password, and then lists the fleet's sessions; a wrong password is shown inline, and the
// password is not left in the page.
//
// BASTION_RENDERER_DIR serves another build of the renderer (an engineer's own output folder);
// by default the tree's dist/renderer, built when stale.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { startUiHost, type UiHost } from '../../cli/ui-host.js';
import { emptyAppConfig } from '../../proxy/api/app-config.js';
import { CoreService } from '../../proxy/api/service.js';
import { AppCore } from '../../proxy/core.js';
import type { Logger } from '../../proxy/session/session.js';
import { ensureRendererBuilt, launchChromium, RENDERER_DIR, saveThemeShots } from '../helpers/browser.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { shipStorepick, startTeamGateway, storeUrl, type TeamGateway } from '../team/fleet.js';

const AUDITOR = { name: 'auditor', password: 'Auditor-Ui-pw-8841' };

/** What the page functions below touch (the root tsconfig has no DOM types). */
interface PageGlobals {
  document: { body: { innerHTML: string } };
  localStorage: { getItem(k: string): string | null };
}

const quiet: Logger = { info: () => {}, warn: () => {}, error: (m) => console.error(`bastion: ${m}`) };

describe('Store screen (headless host, Chromium)', { timeout: 180_000 }, () => {
  let db: TestPostgres;
  let store: TestPostgres;
  let fleet: TeamGateway[] = [];
  let dir: string;
  let app: AppCore;
  let service: CoreService;
  let host: UiHost;
  let browser: Browser;
  let page: Page;

  const url = () => storeUrl(store, AUDITOR.name);
  const label = () => `shared: ${AUDITOR.name}@127.0.0.1:${store.port}/${store.database}`;

  before(async () => {
    let rendererDir = process.env.BASTION_RENDERER_DIR;
    if (!rendererDir) {
      ensureRendererBuilt();
      rendererDir = RENDERER_DIR;
    }
    [db, store, browser] = await Promise.all([
      startPostgres({ version: 18 }),
      startPostgres({ version: 18 }),
      launchChromium(),
    ]);
    fleet = await Promise.all(['gw-east', 'gw-west'].map((n) => startTeamGateway(n, db, store)));
    await shipStorepick(fleet);
    const owner = new pg.Client(store.url);
    await owner.connect();
    await owner.query(`CREATE ROLE ${AUDITOR.name} LOGIN PASSWORD '${AUDITOR.password}'`);
    await owner.query(`GRANT USAGE ON SCHEMA bastion TO ${AUDITOR.name}`);
    await owner.query(`GRANT SELECT ON ALL TABLES IN SCHEMA bastion TO ${AUDITOR.name}`);
    await owner.end();

    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-storepick-ui-'));
    app = new AppCore(emptyAppConfig(path.join(dir, 'bastion.app.yaml')), quiet);
    await app.start({ tolerateListenerErrors: true });
    service = new CoreService(app, { operator: 'ops-lead', log: quiet });
    host = await startUiHost(service, { port: 0, staticDir: rendererDir });
    page = await browser.newPage({ viewport: { width: 1440, height: 860 }, colorScheme: 'dark' });
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  });

  after(async () => {
    await browser?.close();
    await host?.close();
    service?.dispose();
    await app?.stop();
    await Promise.all(fleet.map((g) => g.stop()));
    await Promise.all([db?.stop(), store?.stop()]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async (t) => {
    const failed = (t as unknown as { passed?: boolean }).passed === false;
    if (failed && page)
      await page.screenshot({ path: path.join(os.tmpdir(), `bastion-store-failure-${Date.now()}.png`) });
  });

  it("the app's own store first: the badge says local, and none of the fleet's sessions", async () => {
    await page.goto(host.url);
    await page.getByRole('button', { name: 'Store: local: bastion.db' }).waitFor();
    await page.getByRole('button', { name: /^Sessions/ }).click();
    await page.getByLabel('Search statements').fill('storepick');
    await page.getByText('No sessions match').waitFor();
  });

  it('a wrong password is shown in the form, and nothing switches', async () => {
    await page.getByRole('button', { name: /^Store 7/ }).click();
    const form = page.getByRole('region', { name: 'Open a shared store' });
    await form.getByLabel('Store URL').fill(url());
    await form.getByLabel('Password').fill('Wrong-pw-1234');
    await form.getByRole('button', { name: 'Connect' }).click();
    await form
      .getByRole('alert')
      .getByText(/refused the user name or password/)
      .waitFor();
    assert.ok(!(await form.getByRole('alert').textContent())?.includes('Wrong-pw-1234'));
    await page.getByRole('button', { name: 'Store: local: bastion.db' }).waitFor();
  });

  it("opened from the Store screen, the fleet's sessions are listed", async () => {
    const form = page.getByRole('region', { name: 'Open a shared store' });
    await form.getByLabel('Password').fill(AUDITOR.password);
    await form.getByLabel('Role').selectOption('reader');
    await form.getByRole('button', { name: 'Connect' }).click();
    await page.getByRole('button', { name: `Store: ${label()}` }).waitFor();
    const now = page.getByRole('region', { name: 'Reading now' });
    await now.getByText('A shared store opened here').waitFor();
    await now.getByText('gw-east, gw-west').waitFor();
    assert.equal(
      await now.getByTestId('store-address').textContent(),
      `postgres://${AUDITOR.name}@127.0.0.1:${store.port}/${store.database}?sslmode=disable`,
    );
    // The renderer does not keep the password once the host has it.
    assert.equal(await form.getByLabel('Password').inputValue(), '');
    const html = await page.evaluate(() => (globalThis as unknown as PageGlobals).document.body.innerHTML);
    assert.ok(!html.includes(AUDITOR.password), 'the password is not in the page');
    const kept = await page.evaluate(() =>
      (globalThis as unknown as PageGlobals).localStorage.getItem('bastion.sharedStore'),
    );
    assert.ok(kept?.includes(`127.0.0.1:${store.port}`) && !kept.includes(AUDITOR.password));
    await saveThemeShots(page, 'store-shared');

    await page.getByRole('button', { name: /^Sessions/ }).click();
    const sessions = page.getByRole('table', { name: 'Sessions' });
    await page.getByLabel('Search statements').fill('storepick');
    await sessions.getByText(/'gw-east'/).waitFor();
    await sessions.getByText(/'gw-west'/).waitFor();
    assert.equal(await sessions.locator('tbody tr').count(), 2);
    await saveThemeShots(page, 'store-sessions');
  });

  it("disconnecting goes back to the app's own store", async () => {
    await page.getByRole('button', { name: `Store: ${label()}` }).click();
    await page.getByRole('button', { name: /^Disconnect/ }).click();
    await page.getByRole('button', { name: 'Store: local: bastion.db' }).waitFor();
    await page.getByRole('button', { name: /^Sessions/ }).click();
    await page.getByLabel('Search statements').fill('storepick');
    await page.getByText('No sessions match').waitFor();
  });
});
