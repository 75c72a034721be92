// Audit reports over a store built by real traffic: the report's content and filters, and each
// format read back the way its reader would: JSON parsed and its digest recomputed, CSV parsed
// (RFC 4180), HTML loaded in Chromium, PDF read with pdftotext and rendered with pdftoppm.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UsageError } from '../../cli/args.js';
import { parseIsoTime, reportCommand } from '../../cli/report.js';
import {
  type AuditReport,
  buildReport,
  CSV_COLUMNS,
  checkReportDigest,
  csvField,
  reportDigest,
  statementKind,
  toCsv,
  toHtml,
  toJson,
} from '../../proxy/report/index.js';
import { toPdf } from '../../proxy/report/pdf.js';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import type { StatementRecord } from '../../shared/types.js';
import { session, statement, tempStorePath } from '../store/fixtures.js';
import { CSV_SQL, HTML_SQL, LONG_SQL, type RecordedTraffic, recordTraffic, UNICODE_SQL } from './traffic.js';

let t: RecordedTraffic;
let report: AuditReport;
let statements: StatementRecord[];

before(async () => {
  t = await recordTraffic();
  const store = openSqliteStore(t.storePath, { readonly: true });
  report = buildReport(store, {}, { source: t.storePath });
  statements = t.sessions.flatMap((s) => store.listStatements(s.id));
  store.close();
});

after(() => t?.cleanup());

/** RFC 4180: quoted fields with doubled quotes, CRLF records; returns rows of fields. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') {
        quoted = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      i++;
    } else if (c === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 2;
    } else {
      assert.notEqual(c, '\n', `bare LF outside quotes at ${i}`);
      assert.notEqual(c, '"', `quote inside an unquoted field at ${i}`);
      field += c;
      i++;
    }
  }
  assert.equal(field, '', 'the last record ends with CRLF');
  assert.equal(row.length, 0);
  return rows;
}

function tmp(name: string): string {
  return path.join(t.dir, name);
}

describe('report content over real traffic', () => {
  test('summary counts match the recorded statements', () => {
    const s = report.summary;
    assert.equal(s.sessions, 3);
    assert.equal(s.statements, statements.length);
    assert.equal(s.statements, 15);
    assert.deepEqual(s.identities, ['agent', 'analyst']);
    assert.deepEqual(s.connections, ['app', 'billing']);
    assert.deepEqual(s.byKind, { create: 1, delete: 1, insert: 1, select: 11, update: 1 });
    assert.deepEqual(s.byDecision, { allow: 15, warn: 0, block: 0, review: 0 });
    assert.deepEqual(s.errorsByCode, { '22012': 1, '42P01': 1 });
    assert.equal(s.errors, 2);
    assert.equal(s.blocked, 0);
    assert.equal(s.held, 0);
    // The store records approvals (schema version 2); none were requested in this traffic.
    assert.equal(report.approvals.recorded, true);
    assert.deepEqual(report.approvals.entries, []);
    // 3 customers + 1 (by id) + 1 (CSV_SQL) + 1 + 1 + 1 (long) + count + 42 + email
    assert.equal(
      s.rows,
      statements.reduce((a, st) => a + st.rows, 0),
    );
    const agentApp = s.activity.find((a) => a.identity === 'agent' && a.connection === 'app')!;
    assert.equal(agentApp.statements, 10);
    assert.equal(agentApp.errors, 1);
    assert.deepEqual(
      report.errors.map((e) => [e.identity, e.errorCode]),
      [
        ['agent', '22012'],
        ['analyst', '42P01'],
      ],
    );
  });

  test('sessions come oldest first with their statements in order, parameters kept', () => {
    assert.deepEqual(
      report.sessions.map((s) => s.session.id),
      t.sessions.map((s) => s.id),
    );
    const first = report.sessions[0].statements;
    assert.deepEqual(
      first.map((s) => s.seq),
      first.map((_, i) => i + 1),
    );
    const byId = first.find((s) => s.sql === 'SELECT name FROM customers WHERE id = $1')!;
    assert.equal(byId.protocol, 'extended');
    assert.deepEqual(byId.params, ['2']);
    assert.equal(byId.rows, 1);
  });

  test('states the chain head from verify() and a digest of its own content', () => {
    const store = openSqliteStore(t.storePath, { readonly: true });
    const v = store.verify();
    store.close();
    assert.equal(report.integrity.verified, true);
    assert.equal(report.integrity.chainHead, v.head);
    assert.equal(report.integrity.records, v.records);
    assert.match(report.digest, /^[0-9a-f]{64}$/);
    assert.equal(reportDigest(report), report.digest);
    assert.equal(checkReportDigest({ ...report, summary: { ...report.summary, errors: 0 } }), false);
  });

  test('filters by identity, connection and time', () => {
    const store = openSqliteStore(t.storePath, { readonly: true });
    try {
      const analyst = buildReport(store, { identity: 'analyst' });
      assert.equal(analyst.summary.sessions, 1);
      assert.equal(analyst.summary.statements, 3);
      assert.deepEqual(analyst.summary.identities, ['analyst']);
      const billing = buildReport(store, { connection: 'billing' });
      assert.equal(billing.summary.statements, 2);
      assert.deepEqual(billing.filter, { since: null, until: null, identity: null, connection: 'billing' });
      const late = buildReport(store, { since: t.cutoff });
      assert.deepEqual(
        late.sessions.map((s) => s.session.id),
        [t.sessions[2].id],
      );
      const early = buildReport(store, { until: t.cutoff });
      assert.equal(early.summary.sessions, 2);
      assert.equal(early.summary.statements, 13);
      const none = buildReport(store, { identity: 'nobody' });
      assert.equal(none.summary.sessions, 0);
      assert.equal(none.summary.statements, 0);
      // A period inside a session: only its statements in the period count.
      const firstSt = report.sessions[0].statements;
      const mid = buildReport(store, { since: firstSt[2].startedAt, until: firstSt[4].startedAt });
      assert.equal(mid.summary.statements, 3);
    } finally {
      store.close();
    }
  });
});

describe('blocked, held, masked (decisions as the guardrail engine will record them)', () => {
  function decisionsStore() {
    const store = openSqliteStore(tempStorePath());
    const A = 'aaaa0000-0000-4000-8000-00000000000a';
    store.append([
      { kind: 'session_open', session: session(A) },
      {
        kind: 'statement',
        statement: statement(A, 1, {
          sql: 'DROP TABLE customers',
          decision: 'block',
          rule: 'no-drop',
          tag: null,
          errorCode: '42501',
          errorMessage: 'blocked by no-drop',
        }),
      },
      {
        kind: 'statement',
        statement: statement(A, 2, {
          sql: 'DELETE FROM orders',
          decision: 'review',
          rule: 'unbounded-writes',
        }),
      },
      {
        kind: 'statement',
        statement: statement(A, 3, {
          sql: 'SELECT email, ssn FROM customers',
          masked: { 'customer-pii': 4, detectors: 1 },
        }),
      },
      {
        kind: 'statement',
        statement: statement(A, 4, {
          sql: '  -- note\n/* c */ (SELECT 1)',
          decision: 'warn',
          rule: 'w',
          masked: { detectors: 2 },
        }),
      },
    ]);
    return store;
  }

  test('are counted and listed with their rule; held outcomes are "not recorded" without approvals', () => {
    const store = decisionsStore();
    const r = buildReport(store);
    assert.deepEqual(r.summary.byDecision, { allow: 1, warn: 1, block: 1, review: 1 });
    assert.deepEqual(
      r.blocked.map((b) => [b.sql, b.rule]),
      [['DROP TABLE customers', 'no-drop']],
    );
    assert.deepEqual(
      r.held.map((h) => [h.sql, h.rule, h.outcome]),
      [['DELETE FROM orders', 'unbounded-writes', null]],
    );
    assert.equal(r.summary.heldOutcomes.unrecorded, 1);
    assert.deepEqual(r.summary.maskedByRule, { 'customer-pii': 4, detectors: 3 });
    assert.deepEqual(r.masking, [
      { rule: 'customer-pii', values: 4, statements: 1 },
      { rule: 'detectors', values: 3, statements: 2 },
    ]);
    assert.equal(r.summary.masked, 7);
    assert.deepEqual(r.summary.byKind, { delete: 1, drop: 1, select: 2 });
    store.close();
  });

  test('approvals appear with approver and time when the store records them', () => {
    const store = decisionsStore();
    const A = store.listSessions()[0].id;
    const approvals = {
      listApprovals: (id: string) =>
        id === A
          ? [
              {
                sessionId: A,
                statementSeq: 2,
                requestedAt: 1,
                outcome: 'approved' as const,
                approver: 'alice',
                decidedAt: 1_750_000_000_500_000,
                reason: 'ticket OPS-1',
              },
            ]
          : [],
    };
    const r = buildReport(Object.assign(Object.create(store), approvals));
    assert.equal(r.approvals.recorded, true);
    assert.equal(r.approvals.entries.length, 1);
    assert.deepEqual(
      r.held.map((h) => [h.outcome, h.approver, h.decidedAt]),
      [['approved', 'alice', 1_750_000_000_500_000]],
    );
    assert.equal(r.summary.heldOutcomes.approved, 1);
    const html = toHtml(r);
    assert.match(html, /id="approvals"/);
    assert.match(html, /alice/);
    store.close();
  });

  test('statementKind skips comments and parentheses', () => {
    assert.equal(statementKind('  -- c\n/* x */ ( SELECT 1)'), 'select');
    assert.equal(statementKind('with x as (select 1) select * from x'), 'with');
    assert.equal(statementKind(''), 'empty');
    assert.equal(statementKind('/* FunctionCall oid=1 */', 'function'), 'function call');
    assert.equal(statementKind('123'), 'other');
  });
});

describe('JSON', () => {
  test('is complete and its digest recomputes from the parsed file', () => {
    const parsed = JSON.parse(toJson(report)) as AuditReport;
    assert.deepEqual(parsed, report);
    assert.equal(checkReportDigest(parsed), true);
    parsed.sessions[0].statements[0].sql = 'SELECT harmless';
    assert.equal(checkReportDigest(parsed), false);
  });
});

describe('CSV', () => {
  test('parses back (RFC 4180) to one row per statement with the same values', () => {
    const text = toCsv(report, { formulaGuard: false });
    const rows = parseCsv(text);
    assert.deepEqual(rows[0], [...CSV_COLUMNS]);
    const data = rows.slice(1).map((r) => Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, r[i]])));
    assert.equal(data.length, statements.length);
    const sessions = new Map(report.sessions.map((s) => [s.session.id, s.session]));
    data.forEach((row, i) => {
      const st = statements[i];
      const s = sessions.get(st.sessionId)!;
      assert.equal(row.session_id, st.sessionId);
      assert.equal(Number(row.seq), st.seq);
      assert.equal(row.identity, s.identity);
      assert.equal(row.connection, s.connection);
      assert.equal(row.client, s.clientAddress);
      assert.equal(Date.parse(row.time), Math.floor(st.startedAt / 1000));
      assert.equal(row.protocol, st.protocol);
      assert.equal(row.decision, st.decision);
      assert.equal(row.rule, st.rule ?? '');
      assert.equal(Number(row.duration_ms), Number((st.durationUs / 1000).toFixed(3)));
      assert.equal(Number(row.rows), st.rows);
      assert.equal(row.tag, st.tag ?? '');
      assert.equal(row.error_code, st.errorCode ?? '');
      assert.equal(
        Number(row.masked),
        Object.values(st.masked).reduce((a, b) => a + b, 0),
      );
      assert.equal(row.sql, st.sql);
      assert.equal(row.params, st.params === null ? '' : JSON.stringify(st.params));
      assert.equal(row.chain_head, report.integrity.chainHead);
      assert.equal(row.report_digest, report.digest);
    });
    assert.ok(
      data.some((r) => r.sql === CSV_SQL),
      'commas, quotes and a newline survive',
    );
    assert.ok(data.some((r) => r.sql === UNICODE_SQL));
    assert.ok(data.some((r) => r.error_code === '22012' && r.sql === 'SELECT 1/0'));
  });

  test('guards cells a spreadsheet would run as formulas', () => {
    assert.equal(csvField('=HYPERLINK("x")', true), `"'=HYPERLINK(""x"")"`);
    assert.equal(csvField('-- comment', true), "'-- comment");
    assert.equal(csvField('-12.5', true), '-12.5');
    assert.equal(csvField('=1', false), '=1');
  });
});

const CHROMIUM = '/usr/bin/chromium';
const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

describe('HTML', () => {
  test('is self-contained, escapes everything, and Chromium shows the statements and counts', () => {
    const html = toHtml(report);
    assert.doesNotMatch(html, /<script/i, 'no script element (statement text is escaped)');
    assert.doesNotMatch(html, /\b(src|href)\s*=\s*["']?(https?:|\/\/)/i, 'no external resource');
    assert.doesNotMatch(html, /@import|url\(/i);
    assert.match(html, /&#60;script&#62;alert\(&#34;x&#34;\)&#60;\/script&#62;/);
    const file = tmp('report.html');
    fs.writeFileSync(file, html);
    const dom = execFileSync(CHROMIUM, [...chromiumArgs, '--dump-dom', `file://${file}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 60_000,
    });
    // The DOM Chromium built: text content, with markup stripped and entities decoded.
    const text = dom
      .replace(/<style[\s\S]*?<\/style>/g, '')
      .replace(/<[^>]+>/g, ' ')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&nbsp;/g, ' ')
      .replace(/&amp;/g, '&')
      .replace(/\s+/g, ' ');
    assert.doesNotMatch(dom, /<script/i, 'Chromium parsed no script element');
    assert.match(text, /Audit report/);
    assert.match(text, /Store chain verified: \d+ records intact/);
    assert.ok(text.includes(report.digest));
    assert.ok(text.includes(report.integrity.chainHead!));
    assert.match(text, /15 Statements/);
    assert.match(text, /3 Sessions/);
    assert.match(text, /2 Errors/);
    for (const sql of [
      'SELECT id, name, email FROM customers ORDER BY id',
      'DELETE FROM customers WHERE id = $1',
      UNICODE_SQL,
    ]) {
      assert.ok(text.includes(sql), sql);
    }
    assert.ok(text.includes(HTML_SQL), 'shown as text');
    assert.ok(text.includes('params ["3"]'));
    for (const s of t.sessions) assert.ok(text.includes(s.id));
  });

  test('prints to paginated A4 landscape with page numbers', () => {
    const file = tmp('print.html');
    fs.writeFileSync(file, toHtml(report));
    const pdf = tmp('print-html.pdf');
    spawnSync(
      CHROMIUM,
      [...chromiumArgs, '--no-pdf-header-footer', `--print-to-pdf=${pdf}`, `file://${file}`],
      {
        stdio: 'ignore',
        timeout: 60_000,
      },
    );
    const info = execFileSync('pdfinfo', [pdf], { encoding: 'utf8' });
    const pages = Number(/Pages:\s+(\d+)/.exec(info)![1]);
    assert.ok(pages >= 2);
    assert.match(info, /841\.\d+ x 59\d\.\d+ pts/);
    const text = execFileSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' });
    assert.match(text, new RegExp(`Page 1 of ${pages}`));
  });
});

describe('PDF', () => {
  let file: string;
  let text: string;
  let pages: number;

  before(async () => {
    file = tmp('report.pdf');
    fs.writeFileSync(file, await toPdf(report));
    text = execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
    pages = Number(/Pages:\s+(\d+)/.exec(execFileSync('pdfinfo', [file], { encoding: 'utf8' }))![1]);
  });

  test('has real text: statements, counts, chain head, digest, page numbers', () => {
    // The default policy masked the customers' emails on their way out.
    assert.ok(report.summary.masked >= 3, `masked ${report.summary.masked}`);
    assert.match(text, /Audit report/);
    assert.match(text, /Store chain verified: \d+ records intact/);
    assert.ok(text.includes(report.integrity.chainHead!));
    assert.ok(text.includes(report.digest));
    assert.match(
      text,
      new RegExp(`\\n\\s*3\\s+15\\s+0\\s+0\\s+${report.summary.masked}\\s+2\\s*\\n`),
      'key figures: sessions, statements, blocked, held, masked, errors',
    );
    assert.match(text, /Sessions\s+Statements\s+Blocked\s+Held for review\s+Masked values\s+Errors/);
    assert.match(text, /select\s+11\s+73\.3%/);
    assert.match(text, /22012\s+1\s+50\.0%/);
    for (const sql of [
      'SELECT id, name, email FROM customers ORDER BY id',
      "UPDATE customers SET name = 'Robert' WHERE id = 2",
      'DELETE FROM customers WHERE id = $1',
      'SELECT 42 AS answer',
      UNICODE_SQL,
      HTML_SQL,
    ]) {
      assert.ok(text.includes(sql), sql);
    }
    assert.match(text, /params \["3"\]/);
    for (let p = 1; p <= pages; p++) assert.ok(text.includes(`Page ${p} of ${pages}`), `page ${p}`);
    // Every page carries the digest in its footer.
    assert.equal(text.split(report.digest).length - 1 >= pages, true);
  });

  test('wraps long SQL over several lines instead of cutting it', () => {
    const parts = ['0 AS column_number_0', '60 AS column_number_60', '119 AS column_number_119'];
    for (const p of parts) assert.ok(text.replace(/\s+/g, ' ').includes(p), p);
    const lines = text.split('\n').filter((l) => l.includes('column_number_'));
    assert.ok(lines.length >= 8, `long SQL on ${lines.length} lines`);
    assert.ok(LONG_SQL.length > 2000);
  });

  test('renders a page image', () => {
    const prefix = tmp('page');
    execFileSync('pdftoppm', ['-png', '-r', '50', '-f', '1', '-l', '1', file, prefix]);
    const png = fs.readdirSync(t.dir).find((f) => f.startsWith('page') && f.endsWith('.png'))!;
    const img = fs.readFileSync(path.join(t.dir, png));
    assert.equal(img.subarray(1, 4).toString(), 'PNG');
    // A4 landscape at 50 dpi: 585 x 413 pixels.
    assert.ok(Math.abs(img.readUInt32BE(16) - 585) <= 1);
    assert.ok(Math.abs(img.readUInt32BE(20) - 413) <= 1);
    assert.ok(img.length > 10_000, 'the page has content');
  });

  test('tables break across pages with their header repeated; a row taller than a page is split', async () => {
    // One session with 150 statements, one of them 300 lines long: its table runs over many pages.
    const store = openSqliteStore(tempStorePath());
    const A = 'aaaa0000-0000-4000-8000-0000000000bb';
    const tall = `INSERT INTO audit_log (id, note) VALUES\n${Array.from({ length: 300 }, (_, i) => `  (${i}, 'row ${i}')`).join(',\n')}`;
    store.append([
      { kind: 'session_open', session: session(A) },
      ...Array.from({ length: 150 }, (_, i) => ({
        kind: 'statement' as const,
        statement: statement(A, i + 1, { sql: i === 40 ? tall : `SELECT * FROM orders WHERE id = ${i + 1}` }),
      })),
    ]);
    const big = buildReport(store);
    store.close();
    const f = tmp('big.pdf');
    fs.writeFileSync(f, await toPdf(big));
    const n = Number(/Pages:\s+(\d+)/.exec(execFileSync('pdfinfo', [f], { encoding: 'utf8' }))![1]);
    assert.ok(n >= 4, `${n} pages`);
    const pageText = (p: number) =>
      execFileSync('pdftotext', ['-layout', '-f', String(p), '-l', String(p), f, '-'], { encoding: 'utf8' });
    let start = 1;
    while (!pageText(start).includes('Sessions (1)')) start++;
    assert.ok(start < n - 1);
    for (let p = start + 1; p <= n; p++) {
      const page = pageText(p);
      assert.match(
        page,
        /#\s+Time \(UTC\)\s+Kind\s+Decision\s+ms\s+Rows\s+Result\s+Masked\s+SQL/,
        `header on page ${p}`,
      );
      assert.match(page, /\(continued\)/);
      assert.match(page, new RegExp(`Page ${p} of ${n}`));
    }
    const all = execFileSync('pdftotext', ['-layout', f, '-'], { encoding: 'utf8' });
    for (const id of [1, 75, 150])
      assert.ok(all.includes(`SELECT * FROM orders WHERE id = ${id}\n`), `statement ${id}`);
    // Every line of the tall statement is there, once, in order, over several pages.
    const tallLines = [...all.matchAll(/\((\d+), 'row \1'\)/g)].map((m) => Number(m[1]));
    assert.deepEqual(
      tallLines,
      Array.from({ length: 300 }, (_, i) => i),
    );
    const pagesWithTall = Array.from({ length: n }, (_, p) => pageText(p + 1)).filter((p) =>
      /'row \d+'/.test(p),
    );
    assert.ok(pagesWithTall.length >= 3, `${pagesWithTall.length} pages`);
    assert.ok(pagesWithTall.slice(1).every((p) => /\(continued\)\s+\(\d+, 'row/.test(p)));
  });

  test('falls back to the standard PDF fonts, replacing what they cannot show', async () => {
    const buf = await toPdf(report, { fonts: false });
    const f = tmp('std.pdf');
    fs.writeFileSync(f, buf);
    const fonts = execFileSync('pdffonts', [f], { encoding: 'utf8' });
    assert.match(fonts, /Helvetica/);
    const txt = execFileSync('pdftotext', ['-layout', f, '-'], { encoding: 'utf8' });
    assert.ok(txt.includes(UNICODE_SQL), 'Latin-1 letters are kept');
    assert.ok(txt.includes(report.digest));
  });
});

describe('bastion report', () => {
  const run = async (args: string[]) => {
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    try {
      const code = await reportCommand(args);
      return { code, out: out.join('') };
    } finally {
      process.stdout.write = write;
    }
  };

  test('writes each format from the store, filtered', async () => {
    for (const format of ['pdf', 'html', 'csv', 'json']) {
      const out = tmp(`cli.${format}`);
      const r = await run(['--format', format, '--out', out, '--store', t.storePath, '--identity', 'agent']);
      assert.equal(r.code, 0);
      assert.match(r.out, /report: 2 sessions, 12 statements .* store verified; digest [0-9a-f]{64} ->/);
      assert.ok(fs.statSync(out).size > 100);
    }
    const json = JSON.parse(fs.readFileSync(tmp('cli.json'), 'utf8')) as AuditReport;
    assert.equal(checkReportDigest(json), true);
    assert.equal(json.filter.identity, 'agent');
    assert.equal(json.source, t.storePath);
    assert.ok(fs.readFileSync(tmp('cli.pdf')).subarray(0, 5).equals(Buffer.from('%PDF-')));
  });

  test('takes dates and times; a date-only --until covers that whole day', async () => {
    const out = tmp('dates.json');
    const day = new Date(Math.floor(t.cutoff / 1000)).toISOString().slice(0, 10);
    await run(['--format', 'json', '--out', out, '--store', t.storePath, '--since', day, '--until', day]);
    assert.equal((JSON.parse(fs.readFileSync(out, 'utf8')) as AuditReport).summary.statements, 15);
    assert.equal(parseIsoTime('2025-06-01'), Date.UTC(2025, 5, 1) * 1000);
    assert.equal(parseIsoTime('2025-06-01', true), Date.UTC(2025, 5, 2) * 1000 - 1);
    assert.equal(parseIsoTime('2025-06-01T12:30:00.5+02:00'), Date.UTC(2025, 5, 1, 10, 30, 0, 500) * 1000);
    assert.equal(parseIsoTime('2025-06-01T12:30Z'), Date.UTC(2025, 5, 1, 12, 30) * 1000);
  });

  test('bad arguments are one-line usage errors (exit 2)', async () => {
    const bad = [
      ['--format', 'pdf', '--out', 'x.pdf', '--store', t.storePath, '--since', 'yesterday'],
      ['--format', 'pdf', '--out', 'x.pdf', '--store', t.storePath, '--until', '2025-02-30'],
      ['--format', 'pdf', '--out', 'x.pdf', '--store', t.storePath, '--since', '2025-06-01T25:00:00Z'],
      [
        '--format',
        'pdf',
        '--out',
        'x.pdf',
        '--store',
        t.storePath,
        '--since',
        '2025-06-02',
        '--until',
        '2025-06-01',
      ],
      ['--format', 'docx', '--out', 'x.docx', '--store', t.storePath],
      ['--format', 'pdf', '--store', t.storePath],
      ['--out', 'x.bin', '--store', t.storePath],
      ['--format', 'pdf', '--out', 'x.pdf', '--store', path.join(t.dir, 'none.db')],
      ['--format', 'pdf', '--out', 'x.pdf', '--bogus'],
    ];
    for (const args of bad) {
      await assert.rejects(
        reportCommand(args),
        (e: Error) => e instanceof UsageError && !e.message.includes('\n'),
        args.join(' '),
      );
    }
  });
});
