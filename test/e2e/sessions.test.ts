// Sessions, replayer, policy editor and reports end to end: a real PostgreSQL 18 behind an
// in-process gateway (the real AppCore and listener), clients sending traffic through it, the
// headless UI host over the core's service, and the built renderer driven in Chromium. Saves
// screenshots of each screen, in both themes, to SHOTS_DIR (a temporary folder unless
// BASTION_SHOTS_DIR=docs/screenshots).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { startUiHost, type UiHost } from '../../cli/ui-host.js';
import { CoreService } from '../../proxy/api/service.js';
import type { StoreEntry } from '../../proxy/store/types.js';
import { ensureRendererBuilt, launchChromium, RENDERER_DIR, saveThemeShots } from '../helpers/browser.js';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

const AUDITOR = { name: 'auditor-bot', password: 'auditor-bot-Secret-pw' };

/** One wire message: type byte, int32 length (counting itself), body. */
function wire(type: number, body: string | Buffer): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeInt32BE(b.length + 4, 1);
  return Buffer.concat([head, b]);
}

/** A RowDescription naming text columns (no table). */
function rowDescription(names: string[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(2)];
  parts[0]!.writeUInt16BE(names.length);
  for (const n of names) {
    const meta = Buffer.alloc(18);
    meta.writeUInt32BE(25, 6); // text
    meta.writeInt16BE(-1, 10);
    meta.writeInt32BE(-1, 12);
    parts.push(Buffer.from(`${n}\0`), meta);
  }
  return wire(0x54, Buffer.concat(parts));
}

function dataRow(values: string[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(2)];
  parts[0]!.writeUInt16BE(values.length);
  for (const v of values) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(Buffer.byteLength(v));
    parts.push(len, Buffer.from(v));
  }
  return wire(0x44, Buffer.concat(parts));
}

/**
 * A recorded session of `frames` frames written straight to the store: statements of a Query,
 * a RowDescription, 8 DataRows, CommandComplete and ReadyForQuery, 2 ms apart.
 */
function bigSession(gw: TestGateway, id: string, frames: number): void {
  const t0 = Date.now() * 1000;
  gw.flush();
  gw.core.store.append([
    {
      kind: 'session_open',
      session: {
        id,
        identity: 'replay-load',
        authMethod: 'scram-sha-256',
        connection: 'app',
        clientAddress: '10.0.0.9:50000',
        applicationName: 'load',
        database: 'appdb',
        tls: false,
        protocol: '3.0',
        startedAt: t0,
        endedAt: null,
        endReason: null,
        statements: 0,
      },
    },
  ]);
  const rd = rowDescription(['id', 'email']);
  let batch: StoreEntry[] = [];
  for (let seq = 1, st = 1; seq + 11 <= frames; seq += 12, st++) {
    const sql = `select id, email from customers where id > ${st}`;
    const rows = Array.from({ length: 8 }, (_, i) => dataRow([String(st + i), `c${st + i}@example.com`]));
    batch.push(
      {
        kind: 'frames',
        sessionId: id,
        seq,
        count: 1,
        dir: 'client',
        tUs: st * 2000,
        data: wire(0x51, `${sql}\0`),
      },
      {
        kind: 'frames',
        sessionId: id,
        seq: seq + 1,
        count: 11,
        dir: 'server',
        tUs: st * 2000 + 500,
        data: Buffer.concat([rd, ...rows, wire(0x43, 'SELECT 8\0'), wire(0x5a, 'I')]),
      },
      {
        kind: 'statement',
        statement: {
          sessionId: id,
          seq: st,
          protocol: 'simple',
          sql,
          params: null,
          startedAt: t0 + st * 2000,
          durationUs: 500,
          rows: 8,
          tag: 'SELECT 8',
          errorCode: null,
          errorMessage: null,
          decision: st % 97 === 0 ? 'block' : 'allow',
          rule: st % 97 === 0 ? 'no-drop' : null,
          firstFrame: seq,
          lastFrame: seq + 11,
          truncated: false,
          uncapturedBytes: 0,
          uncapturedRows: 0,
          uncapturedDigest: null,
          masked: {},
        },
      },
    );
    if (batch.length >= 3000) {
      gw.core.store.append(batch);
      batch = [];
    }
  }
  gw.core.store.append(batch);
}

/** What the page functions below touch (the root tsconfig has no DOM types). */
interface PageGlobals {
  document: {
    querySelectorAll(selector: string): ArrayLike<{ textContent: string | null; value?: string }>;
  };
}

const POLICY_WITH_TYPO = `# A guardrail with a typo in its action.
default:
  guardrails:
    - name: no-salaries
      match: { kind: [select], relation: [salaries] }
      action: blok
    - default
`;

const POLICY_BLOCKING_SALARIES = `# Salaries are off limits to agents.
default:
  guardrails:
    - name: no-salaries
      match: { kind: [select], relation: [salaries] }
      action: block
      reason: salaries are off limits
    - default
`;

describe('sessions, replayer, policy editor, reports (Chromium)', { timeout: 120_000 }, () => {
  let pgServer: TestPostgres;
  let gw: TestGateway;
  let service: CoreService;
  let host: UiHost;
  let browser: Browser;
  let page: Page;
  const clients: pg.Client[] = [];
  /** What the client got back for the statement the replayer is checked against. */
  let seen: { rows: Record<string, unknown>[] };

  async function client(who: { name: string; password: string }): Promise<pg.Client> {
    const c = new pg.Client({ ...gw.target(), user: who.name, password: who.password, database: 'appdb' });
    c.on('error', () => {});
    await c.connect();
    clients.push(c);
    return c;
  }

  before(async () => {
    ensureRendererBuilt();
    [pgServer, browser] = await Promise.all([startPostgres({ version: 18 }), launchChromium()]);
    gw = await startGateway(pgServer, {
      identities: [
        { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'default' },
        {
          name: AUDITOR.name,
          password: AUDITOR.password,
          oidc: null,
          connections: ['app'],
          policy: 'default',
        },
      ],
    });
    service = new CoreService(gw.core, { operator: 'ops-lead' });
    host = await startUiHost(service, { port: 0, staticDir: RENDERER_DIR });
    page = await browser.newPage({
      viewport: { width: 1440, height: 860 },
      colorScheme: 'dark',
      acceptDownloads: true,
    });
    page.setDefaultTimeout(10_000);
    await page
      .context()
      .grantPermissions(['clipboard-read', 'clipboard-write'], { origin: `http://127.0.0.1:${host.port}` });
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));

    // Real recorded sessions: an agent setting up and reading data, one with a blocked
    // statement, and one that says a rare word.
    const agent = await client(AGENT);
    await agent.query('create table customers (id serial primary key, name text, email text, country text)');
    await agent.query(
      `insert into customers (name, email, country) select 'customer ' || i, 'c' || i || '@example.com',
       (array['FR','DE','US','JP'])[1 + i % 4] from generate_series(1, 40) i`,
    );
    await agent.query('create table salaries (customer_id int, amount numeric)');
    await agent.query('insert into salaries select i, i * 1000 from generate_series(1, 10) i');
    await agent.query("select count(*) from customers where country = 'FR'");
    await agent.end();
    const bot = await client(AUDITOR);
    seen = await bot.query(
      "select id, name, email from customers where country = 'JP' and name like '%kilimanjaro%' or id <= 6 order by id",
    );
    await bot.query('select sum(amount) from salaries');
    await assert.rejects(bot.query('drop table customers'), /blocked/);
    await bot.query('select $1::int + 1 as two', [1]);
    await bot.end();
    gw.flush();
  });

  after(async () => {
    for (const c of clients) await c.end().catch(() => {});
    await browser?.close();
    await host?.close();
    service?.dispose();
    await gw?.stop();
    await pgServer?.stop();
  });

  afterEach(async (t) => {
    const failed = (t as unknown as { passed?: boolean }).passed === false;
    if (failed && page)
      await page.screenshot({ path: path.join(os.tmpdir(), `bastion-sessions-failure-${Date.now()}.png`) });
  });

  const shots = (name: string) => saveThemeShots(page, name);

  /** Replaces the policy editor's text as a person would: select all, paste. */
  async function replaceEditorText(text: string): Promise<void> {
    await page.evaluate(`navigator.clipboard.writeText(${JSON.stringify(text)})`);
    await page.getByTestId('policy-editor').locator('.view-lines').click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('ControlOrMeta+V');
  }

  it('search finds a statement by a word in it', async () => {
    await page.goto(host.url);
    await page.getByRole('button', { name: /^Sessions/ }).click();
    const sessions = page.getByRole('table', { name: 'Sessions' });
    await sessions.getByText(AUDITOR.name).waitFor();
    await page.getByText('1–2 of 2').waitFor();
    await shots('sessions');

    // Who and what: only sessions with a blocked statement, then a word from one statement.
    await page
      .getByRole('group', { name: 'Only sessions with' })
      .getByRole('button', { name: 'Blocked' })
      .click();
    await page.getByText('1–1 of 1').waitFor();
    await sessions.getByText('1 blocked').waitFor();
    await page
      .getByRole('group', { name: 'Only sessions with' })
      .getByRole('button', { name: 'Blocked' })
      .click();

    await page.getByLabel('Search statements').fill('kilimanj');
    await sessions.getByText(/kilimanjaro/).waitFor();
    assert.equal(await sessions.locator('tbody tr').count(), 1);
    await page.getByText('1–1 of 1').waitFor();
    await shots('sessions-search');

    // The statements themselves.
    await page.getByRole('group', { name: 'Search for' }).getByRole('button', { name: 'Statements' }).click();
    const found = page.getByRole('table', { name: 'Statements found' });
    await found.getByText(/name like '%kilimanjaro%'/).waitFor();
    assert.equal(await found.locator('tbody tr').count(), 1);
    await page.getByLabel('Search statements').fill('salaries');
    await found.getByText('select sum(amount) from salaries').waitFor();
    await found.getByText('create table salaries').waitFor();
    await page.getByRole('group', { name: 'Search for' }).getByRole('button', { name: 'Sessions' }).click();
    await page.getByLabel('Search statements').fill('kilimanjaro');
    await sessions.getByText(/kilimanjaro/).waitFor();
  });

  it('the replayer steps through a session and shows the result grid as the client saw it', async () => {
    // The search hit opens at the matching statement.
    await page
      .getByRole('table', { name: 'Sessions' })
      .getByText(/kilimanjaro/)
      .click();
    const panel = page.getByRole('region', { name: 'Frame', exact: true });
    await panel
      .getByText(/name like '%kilimanjaro%'/)
      .first()
      .waitFor();
    const current = async () => Number(await page.getByLabel('Current frame').inputValue());
    const start = await current();
    assert.ok(start > 1, `opened at frame ${start}`);
    // The statement list beside it shows the decision and the rule of each statement.
    const list = page.getByRole('grid', { name: 'Statement list' });
    await list.getByText('no-drop').waitFor();

    // Step forward frame by frame to the first DataRow: the grid fills as the client saw it.
    for (let i = 0; i < 12; i++) {
      await page.getByRole('button', { name: 'Next frame' }).click();
      if ((await panel.locator('h2').textContent())?.includes('DataRow')) break;
    }
    await panel.locator('h2').getByText('DataRow').waitFor();
    const grid = page.getByRole('table', { name: 'Result grid' });
    await grid.getByRole('columnheader', { name: 'email' }).waitFor();
    assert.equal(await grid.locator('tbody tr').count(), 1);
    // Three more rows: the grid has four, the first as the client received it.
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
    await page.waitForFunction(
      () =>
        (globalThis as unknown as PageGlobals).document.querySelectorAll(
          '[aria-label="Result grid"] tbody tr',
        ).length === 4,
    );
    const first = seen.rows[0]!;
    const cells = await grid.locator('tbody tr').first().locator('td').allTextContents();
    assert.deepEqual(cells.slice(1), [String(first.id), String(first.name), String(first.email)]);
    await shots('replayer');

    // Bytes view of the frame.
    await panel.getByRole('tab', { name: 'Bytes' }).click();
    await panel
      .getByLabel('Bytes')
      .getByText(/^00000000 {2}44 /)
      .waitFor();
    await shots('replayer-bytes');
    await panel.getByRole('tab', { name: 'Decoded' }).click();

    // Back one frame, then jump to a statement from the list: the blocked DROP.
    const before = await current();
    await page.getByRole('button', { name: 'Previous frame' }).click();
    assert.equal(await current(), before - 1);
    await list.getByText('drop table customers').click();
    await panel.getByText('drop table customers').first().waitFor();
    await panel.getByLabel('Statement').getByText('no-drop', { exact: true }).waitFor();
    // Play at x16 to the end.
    await page.getByRole('group', { name: 'Speed' }).getByRole('button', { name: '×16' }).click();
    await page.getByRole('button', { name: 'Play' }).click();
    const total = Number((await page.getByRole('slider', { name: 'Scrubber' }).getAttribute('max')) ?? '0');
    await page.waitForFunction(
      (n) =>
        (globalThis as unknown as PageGlobals).document.querySelectorAll('[aria-label="Current frame"]')[0]
          ?.value === String(n),
      total,
    );
    await page.getByRole('button', { name: 'Play' }).waitFor(); // stopped at the end
  });

  it('an invalid rule shows an inline error in the editor', async () => {
    await page.getByRole('button', { name: /^Policies/ }).click();
    const editor = page.getByTestId('policy-editor');
    await editor.locator('.view-lines').getByText('guardrails').first().waitFor();
    await replaceEditorText(POLICY_WITH_TYPO);
    await editor.locator('.squiggly-error').first().waitFor();
    const problems = page.getByRole('list', { name: 'Problems' });
    await problems.getByText('"blok" is not one of: allow, warn, block, review').waitFor();
    await problems.getByText('6:15').waitFor();
    await page.getByText('1 problem').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Save and apply' }).isDisabled(), true);
    await shots('policy-editor-error');
  });

  it('a saved rule takes effect on the next query through the gateway, and the change is recorded', async () => {
    const editor = page.getByTestId('policy-editor');
    await replaceEditorText(POLICY_BLOCKING_SALARIES);
    await page.getByText('Valid · not saved').waitFor();
    // Monaco redraws its markers after the validation that says "Valid": wait for the last to go.
    await editor.locator('.squiggly-error').first().waitFor({ state: 'detached' });

    // The preview decides pasted SQL with the text as edited (not saved yet).
    await page
      .getByLabel('SQL to check')
      .fill('select * from salaries;\nselect * from customers;\ndrop table customers');
    const decisions = page.getByRole('table', { name: 'Decisions' });
    await decisions.getByText('no-salaries').waitFor();
    const actions = await decisions.locator('tbody tr td:nth-child(2)').allTextContents();
    assert.deepEqual(actions, ['block', 'allow', 'block']);
    // Not applied before it is saved.
    const early = await client(AUDITOR);
    assert.equal((await early.query('select count(*) as n from salaries')).rows[0].n, '10');
    await shots('policy-editor');

    await page.getByLabel('Changed by').fill('dana');
    await page.getByRole('button', { name: 'Save and apply' }).click();
    await page.getByText(/Policies saved/).waitFor();
    await page.getByText('Saved', { exact: true }).waitFor();

    // The next session gets the new policy at once (no restart).
    const next = await client(AUDITOR);
    await assert.rejects(
      next.query('select * from salaries'),
      /blocked.*no-salaries.*salaries are off limits/,
    );
    assert.equal((await next.query('select count(*) as n from customers')).rows.length, 1);

    // Recorded: who, when, the diff, in the chain.
    const changes = await service.listPolicyChanges(10);
    assert.equal(changes.length, 1);
    assert.equal(changes[0]!.by, 'dana');
    assert.match(changes[0]!.diff, /^\+ {6}action: block$/m);
    assert.equal(changes[0]!.summary, 'added default');
    assert.equal((await service.verifyStore()).ok, true);
    assert.equal((await service.getPolicies()).yaml, POLICY_BLOCKING_SALARIES);
    await page.getByRole('tab', { name: /Changes/ }).click();
    await page.getByRole('list', { name: 'Policy changes' }).getByText('dana').waitFor();
    await page.getByText('+      action: block').waitFor();
    await shots('policy-history');
  });

  it('previews masking: a SELECT on a connection comes back masked by the rules as edited', async () => {
    await page.getByRole('tab', { name: /Masking preview/ }).click();
    await page.getByLabel('SELECT to preview').fill('select id, email from customers order by id limit 3');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    const grid = page.getByRole('table', { name: 'Masked result' });
    await grid.locator('tbody tr').nth(2).waitFor();
    const cells = await grid.locator('tbody td').allTextContents();
    assert.deepEqual(
      cells.filter((_, i) => i % 2 === 1),
      ['c***@example.com', 'c***@example.com', 'c***@example.com'],
    );
    assert.ok(!cells.some((c) => /^c\d+@example\.com$/.test(c)), cells.join(','));
    await page.getByLabel('Masked by rule').waitFor();
    await shots('policy-masking-preview');
    // A write is refused, not run.
    await page.getByLabel('SELECT to preview').fill('delete from customers');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.getByText(/only a read-only SELECT can be previewed/).waitFor();
  });

  it('opens a session of 100,000 frames at once and scrubs it without long tasks', async () => {
    const id = 'b16b16b1-0000-4000-8000-000000100000';
    bigSession(gw, id, 100_000);
    await page.evaluate(
      `window.__longTasks = []; new PerformanceObserver((l) => window.__longTasks.push(...l.getEntries().map((e) => e.duration))).observe({ type: 'longtask' });
       window.__slowEvents = []; new PerformanceObserver((l) => window.__slowEvents.push(...l.getEntries().map((e) => e.name + ' ' + Math.round(e.duration)))).observe({ type: 'event', durationThreshold: 16 })`,
    );
    const panel = page.getByRole('region', { name: 'Frame', exact: true });
    const opened = Date.now();
    await page.evaluate(`location.hash = '#/replay/${id}'`);
    await panel.getByText('select id, email from customers where id > 1', { exact: true }).waitFor();
    await page
      .getByRole('grid', { name: 'Statement list' })
      .getByText('where id > 3', { exact: false })
      .first()
      .waitFor();
    const openMs = Date.now() - opened;

    // Drag the scrubber across the whole session, then let go: the frame there is read and shown.
    const slider = page.getByRole('slider', { name: 'Scrubber' });
    const box = (await slider.boundingBox())!;
    const y = box.y + box.height / 2;
    const dragStart = Date.now();
    await page.mouse.move(box.x + 2, y);
    await page.mouse.down();
    const steps = 60;
    for (let i = 1; i <= steps; i++) await page.mouse.move(box.x + 2 + ((box.width - 4) * i) / steps, y);
    await page.mouse.up();
    const dragMs = Date.now() - dragStart;
    const at = Number(await page.getByLabel('Current frame').inputValue());
    assert.ok(at > 99_000, `scrubbed to ${at}`);
    const settled = Date.now();
    await panel.locator('h2').getByText(`#${at}`).waitFor();
    await page.getByRole('grid', { name: 'Frame list' }).getByText(String(at), { exact: true }).waitFor();
    const settleMs = Date.now() - settled;
    const longTasks = (await page.evaluate('window.__longTasks')) as number[];
    // Event Timing: input and pointer events that took 16 ms or more from input to the next paint.
    const slowEvents = (await page.evaluate('window.__slowEvents')) as string[];
    console.log(
      `replayer, 100,000 frames: opened in ${openMs} ms; ${steps} scrub moves in ${dragMs} ms ` +
        `(${(dragMs / steps).toFixed(1)} ms each); frame shown ${settleMs} ms after letting go; ` +
        `events over 16 ms to the next paint: ${slowEvents.length ? slowEvents.join(', ') : 'none'}; ` +
        `long tasks (>50 ms): ${longTasks.length}${longTasks.length ? ` (longest ${Math.max(...longTasks).toFixed(0)} ms)` : ''}`,
    );
    assert.ok(openMs < 2000, `opening took ${openMs} ms`);
    await shots('replayer-large');
  });

  it('exports a report for the chosen scope and format', async () => {
    await page.getByRole('button', { name: /^Reports/ }).click();
    await page.getByRole('radiogroup', { name: 'Format' }).getByText('JSON', { exact: true }).click();
    await page.getByRole('region', { name: 'Scope' }).getByLabel('Identity').selectOption(AUDITOR.name);
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export JSON' }).click();
    const file = await download;
    assert.match(file.suggestedFilename(), /^bastion-report-\d{8}-\d{6}\.json$/);
    const report = JSON.parse(fs.readFileSync(await file.path(), 'utf8')) as {
      format: string;
      filter: { identity: string };
      summary: { statements: number; blocked: number };
      integrity: { verified: boolean };
    };
    assert.equal(report.format, 'bastion-audit-report');
    assert.equal(report.filter.identity, AUDITOR.name);
    assert.ok(report.summary.statements >= 4, `statements: ${report.summary.statements}`);
    assert.ok(report.summary.blocked >= 2, `blocked: ${report.summary.blocked}`);
    assert.equal(report.integrity.verified, true);
    await page.getByRole('region', { name: 'Last report' }).getByText('verified').waitFor();
    await page.getByRole('radiogroup', { name: 'Format' }).getByText('PDF', { exact: true }).click();
    await shots('reports');
  });
});
