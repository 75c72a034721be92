// Self-test of the integration fixtures: every real client runs straight against PostgreSQL 18
// (embedded) and 15 (Debian), so that a gateway test failing later is the gateway's fault.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RunResult, runJdbc, runPgbench, runPsql, runPsycopg } from './clients.js';
import { startPostgres, type TestPostgres } from './postgres.js';

function ok(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what} exited ${r.code ?? r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r.stdout;
}

function hasLines(stdout: string, expected: string[]): void {
  const lines = stdout.split('\n');
  for (const l of expected) assert.ok(lines.includes(l), `missing line: ${l}\nin:\n${stdout}`);
}

const servers: Record<18 | 15, TestPostgres> = {} as Record<18 | 15, TestPostgres>;
const outputs: Record<string, string> = {};

before(async () => {
  // 18 with TLS and SCRAM; 15 with md5 (stored as md5), to cover both upstream auth families.
  [servers[18], servers[15]] = await Promise.all([
    startPostgres({ version: 18, ssl: true }),
    startPostgres({ version: 15, authMethod: 'md5' }),
  ]);
});
after(async () => {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
});

for (const version of [18, 15] as const) {
  describe(`PostgreSQL ${version}`, { concurrency: true }, () => {
    test('psql', async () => {
      const pg = servers[version];
      const sql = `SELECT current_setting('server_version_num')::int / 10000 AS major,
        (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl,
        (SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = current_user) AS hash,
        current_database() AS db`;
      const ssl = version === 18;
      const target = ssl ? { ...pg, sslmode: 'verify-full' as const, sslrootcert: pg.sslCert } : pg;
      const out = ok(await runPsql(['-At', '-c', sql], target), 'psql');
      assert.equal(out.trim(), `${version}|${ssl ? 't' : 'f'}|${ssl ? 'SCR' : 'md5'}|appdb`);

      const bad = await runPsql(['-c', 'SELECT 1'], { ...pg, password: 'wrong' });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /password authentication failed/);
    });

    test('psycopg', async () => {
      const out = ok(await runPsycopg([], servers[version]), 'psycopg_smoke.py');
      hasLines(out, [
        'simple [1, "two", null]',
        'executemany {"rows": 10}',
        'copy-in {"rows": 10}',
        'copy-out-binary [[1, "1.50"], [2, "2.50"], [3, "3.50"]]',
        'named-cursor [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]',
        'transaction {"ids": [500]}',
        'expected-error {"sqlstate": "22012"}',
        'done',
      ]);
      outputs[`psycopg${version}`] = out;
    });

    test('JDBC', async () => {
      const pg = servers[version];
      const out = ok(await runJdbc([], version === 18 ? { ...pg, sslmode: 'require' } : pg), 'JdbcSmoke');
      hasLines(out, [
        'prepared-insert {"rows":8,"serverPrepared":true}',
        'prepared-select {"id":7,"label":"row 7","at":"2024-01-07 10:20:30.123456","amount":"7.25","data":"\\\\x0700ff","note":null}',
        'batch {"rows":10,"statements":10}',
        'fetch {"first":"item-1","last":"item-50","rows":50}',
        'rollback {"count":0}',
        'expected-error {"sqlstate":"22012"}',
        'done',
      ]);
      outputs[`jdbc${version}`] = out;
    });

    test('pgbench', async () => {
      const pg = servers[version];
      ok(await runPgbench(['-i', '-s', '1', '-q'], pg), 'pgbench -i');
      const out = ok(await runPgbench(['-S', '-t', '50', '-c', '2'], pg), 'pgbench -S');
      assert.match(out, /number of transactions actually processed: 100\/100/);
    });
  });
}

test('the smoke programs print the same lines on 15 and 18', () => {
  assert.equal(Object.keys(outputs).length, 4, 'every smoke run passed');
  assert.equal(outputs.psycopg15, outputs.psycopg18);
  assert.equal(outputs.jdbc15, outputs.jdbc18);
});

test('restart keeps port and data, and ends open sessions', async () => {
  const pg = servers[15];
  ok(await runPsql(['-c', 'CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)'], pg), 'psql create');
  // A session open across the restart is cut off (FATAL 57P01 admin_shutdown).
  const held = runPsql(['-c', 'SELECT pg_sleep(30)'], pg);
  // Restart only once that session runs (on a busy machine psql may take longer than a moment).
  const running = async () =>
    ok(
      await runPsql(
        ['-At', '-c', "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'"],
        pg,
      ),
      'psql activity',
    ).trim() === '1';
  for (let i = 0; i < 100 && !(await running()); i++) await new Promise((r) => setTimeout(r, 100));
  await pg.restart();
  const cut = await held;
  assert.notEqual(cut.code, 0);
  assert.match(cut.stderr, /terminat|closed the connection/);
  assert.equal(ok(await runPsql(['-At', '-c', 'SELECT x FROM kept'], pg), 'psql after restart').trim(), '7');
});

test('password and trust methods', async () => {
  const [pw, trust] = await Promise.all([
    startPostgres({ version: 15, authMethod: 'password' }),
    startPostgres({ version: 18, authMethod: 'trust' }),
  ]);
  try {
    assert.equal(ok(await runPsql(['-At', '-c', 'SELECT 1'], pw), 'psql password').trim(), '1');
    assert.equal((await runPsql(['-c', 'SELECT 1'], { ...pw, password: 'wrong' })).code, 2);
    const anyPassword = { ...trust, password: 'anything' };
    assert.equal(ok(await runPsql(['-At', '-c', 'SELECT 1'], anyPassword), 'psql trust').trim(), '1');
  } finally {
    await Promise.all([pw.stop(), trust.stop()]);
  }
});
