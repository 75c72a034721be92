// The benchmark report's formatter: the table, the verdict line and BENCHMARKS.md (written only
// when BENCH_WRITE=1). The figures themselves come from `npm run bench`, never from a test.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { BenchRow } from '../../bench/common.js';
import {
  describeMachine,
  formatReport,
  formatTable,
  type Report,
  summarize,
  writeReportIfAsked,
} from '../../bench/report.js';

const ROWS: BenchRow[] = [
  {
    scenario: 'pgbench -S -M simple -c 4',
    target: 'TPS ≥ 1.0x pgbouncer',
    measured: 'bastion 20,100 tps, pgbouncer 18,400 tps',
    ratio: 20100 / 18400,
    pass: true,
  },
  {
    scenario: 'large result | psql',
    target: 'time ≤ 1.25x direct',
    measured: 'bastion 3.10 s,\ndirect 2.00 s',
    ratio: 1.55,
    pass: false,
  },
  {
    scenario: 'recorder (in-thread writer)',
    target: 'for comparison',
    measured: '150,000 frames/s',
    ratio: null,
    pass: null,
  },
];

function report(rows: BenchRow[]): Report {
  return {
    title: 'Bastion benchmarks',
    date: new Date('2026-01-02T03:04:05.678Z'),
    machine: {
      cpu: 'Test CPU',
      cores: 2,
      ramGb: 24,
      os: 'Debian GNU/Linux 12 (bookworm)',
      node: 'v22.0.0',
      postgres: ['postgres (PostgreSQL) 18.4'],
      pgbouncer: 'PgBouncer 1.18.0',
      pgbench: 'pgbench (PostgreSQL) 15.18',
      loadAtStart: 0.5,
    },
    rows,
    commands: ['pgbench -S -M simple -c 4 -j 2 -T 10 -n'],
    notes: ['a note'],
  };
}

test('the table has one line per row, with the ratio, the verdict and cells that cannot break it', () => {
  const lines = formatTable(ROWS).split('\n');
  assert.equal(lines.length, 2 + ROWS.length);
  assert.equal(lines[0], '| Scenario | Target | Measured | Ratio | Result |');
  assert.equal(
    lines[2],
    '| pgbench -S -M simple -c 4 | TPS ≥ 1.0x pgbouncer | bastion 20,100 tps, pgbouncer 18,400 tps | 1.09x | PASS |',
  );
  // A pipe in a cell is escaped and a line break becomes a space: still five cells.
  assert.equal(
    lines[3],
    '| large result \\| psql | time ≤ 1.25x direct | bastion 3.10 s, direct 2.00 s | 1.55x | FAIL |',
  );
  assert.equal(lines[4], '| recorder (in-thread writer) | for comparison | 150,000 frames/s |  | info |');
});

test('the verdict counts only rows with a target', () => {
  assert.deepEqual(summarize(ROWS), { met: 1, failed: 1, line: '1 of 2 targets met, 1 FAILED' });
  assert.equal(summarize([ROWS[0], ROWS[2]]).line, 'every target met (1 of 1)');
  assert.equal(summarize([ROWS[2]]).line, 'no targets measured');
});

test('the report names the date, the machine, the commands and every target', () => {
  const md = formatReport(report(ROWS));
  assert.match(md, /^# Bastion benchmarks\n\n1 of 2 targets met, 1 FAILED\. Measured 2026-01-02T03:04:05Z\./);
  for (const part of [
    '- CPU: Test CPU, 2 cores',
    '- RAM: 24.0 GB',
    '- PostgreSQL: postgres (PostgreSQL) 18.4',
    '- pgbouncer: PgBouncer 1.18.0',
    '```sh\npgbench -S -M simple -c 4 -j 2 -T 10 -n\n```',
    '## Notes\n\n- a note',
    formatTable(ROWS),
  ]) {
    assert.ok(md.includes(part), `missing: ${part}`);
  }
});

test('BENCHMARKS.md is written only when BENCH_WRITE=1', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-report-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'BENCHMARKS.md');
  const saved = process.env.BENCH_WRITE;
  t.after(() => {
    if (saved === undefined) delete process.env.BENCH_WRITE;
    else process.env.BENCH_WRITE = saved;
  });
  delete process.env.BENCH_WRITE;
  assert.equal(writeReportIfAsked(report(ROWS), file), null);
  assert.equal(fs.existsSync(file), false);
  process.env.BENCH_WRITE = '1';
  assert.equal(writeReportIfAsked(report(ROWS), file), file);
  assert.equal(fs.readFileSync(file, 'utf8'), formatReport(report(ROWS)));
});

test('the machine is described from this machine and its installed programs', async () => {
  const m = await describeMachine();
  assert.equal(m.cores, os.cpus().length);
  assert.equal(m.node, process.version);
  assert.ok(Math.abs(m.ramGb - os.totalmem() / 1024 ** 3) < 0.01);
  assert.match(m.pgbouncer, /PgBouncer \d+\.\d+/);
  assert.match(m.pgbench, /pgbench \(PostgreSQL\) \d+/);
  assert.match(m.postgres[0], /PostgreSQL\) 18\./);
});
