// The Data classification screen end to end: a real PostgreSQL 18 with PII behind an in-process
// gateway (built-in default policy), the headless UI host over the core's service, the built
// renderer in Chromium. The screen lists the classified columns; excluding one there makes the
// gateway return its transformed values in clear (checked through the gateway, not the UI).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { startUiHost, type UiHost } from '../../cli/ui-host.js';
import { CoreService } from '../../proxy/api/service.js';
import { ensureRendererBuilt, launchChromium, RENDERER_DIR } from '../helpers/browser.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let db: TestPostgres;
let gw: TestGateway;
let browser: Browser;
let service: CoreService;
let host: UiHost;
let page: Page;

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

before(async () => {
  let rendererDir = process.env.BASTION_RENDERER_DIR;
  if (!rendererDir) {
    ensureRendererBuilt();
    rendererDir = RENDERER_DIR;
  }
  [db, browser] = await Promise.all([startPostgres({ version: 18 }), launchChromium()]);
  const admin = new pg.Client(db.url);
  await admin.connect();
  await admin.query(`CREATE TABLE members (id int, email text, phone text, team text);
    INSERT INTO members SELECT i, 'member' || i || '@corp.example', '(212) 555-' || (1000 + i), 'blue'
    FROM generate_series(1, 20) i;`);
  await admin.end();
  gw = await startGateway(db);
  // The first client connect classifies the upstream.
  const c = new pg.Client(gw.target());
  await c.connect();
  await c.end();
  service = new CoreService(gw.core, { operator: 'ops-lead', log: quiet });
  host = await startUiHost(service, { port: 0, staticDir: rendererDir });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(15_000);
});

after(async () => {
  await browser?.close();
  await host?.close();
  service?.dispose();
  await gw?.stop();
  await db?.stop();
});

async function reversedPhone(): Promise<string> {
  const c = new pg.Client(gw.target());
  await c.connect();
  try {
    return (await c.query('SELECT reverse(phone) AS p FROM members WHERE id = 1')).rows[0].p;
  } finally {
    await c.end();
  }
}

test('the screen lists the classified columns, and excluding one unmasks it at the gateway', async () => {
  const clear = [...'(212) 555-1001'].reverse().join('');
  assert.notEqual(await reversedPhone(), clear, 'masked before the decision');
  await page.goto(`${host.url}#/classification`);
  const rows = page.locator('table[aria-label="Classified columns of app"] tbody tr');
  await rows.first().waitFor();
  const names = await rows.locator('td.mono').allTextContents();
  assert.deepEqual(names.sort(), ['public.members.email', 'public.members.phone']);
  const phone = page.locator('tr[data-column="public.members.phone"]');
  assert.match((await phone.textContent()) ?? '', /phone.*100%.*auto/);
  await page.getByRole('button', { name: 'Exclude public.members.phone' }).click();
  await phone.getByText('excluded').waitFor();
  assert.equal(await reversedPhone(), clear, 'the excluded column is no longer masked');
  const stored = gw.core.classifier.list('app').find((x) => x.column === 'phone');
  assert.equal(stored?.state, 'excluded');
  assert.equal(stored?.decidedBy, 'ops-lead');
});
