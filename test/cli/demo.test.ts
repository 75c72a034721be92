// `bastion serve` with no config in an empty directory: the demo. It must print a psql line that
// works as printed, serve synthetic PII (emails, 9xx SSNs, Luhn-valid cards) from an embedded
// PostgreSQL, stop on SIGINT with exit 0 and leave ./bastion.db with the session, and never leave
// a PostgreSQL behind, also when stopped while starting or when it fails.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { SessionInfo, StatementRecord } from '../../shared/types.js';
import { BASTION_BIN, bastion, cleanEnv, lines, startBastion, tempDir } from '../helpers/cli.js';
import { run } from '../helpers/clients.js';

const READY_TIMEOUT_MS = 30_000;

/** The bastion-demo-* folders in the temp dir (each a running or leaked demo PostgreSQL). */
const demoDirs = () => new Set(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('bastion-demo-')));

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('serve with no config: the demo', () => {
  test('prints a working psql line; PII-looking data; SIGINT exits 0 and ./bastion.db has the session', async () => {
    const { dir, remove } = tempDir('bastion-cli-demo-');
    const before = demoDirs();
    try {
      const server = await startBastion(['serve'], { cwd: dir, timeoutMs: READY_TIMEOUT_MS });
      const out = server.stdout();
      assert.ok(lines(out).includes('ready'));
      assert.equal(lines(out).at(-1), 'ready', 'ready comes last');
      const m = /^ {2}(PGPASSWORD='([^']+)' psql "([^"]+)")$/m.exec(out);
      assert.ok(m, `a psql line in:\n${out}`);
      const [, psqlLine, password, conninfo] = m;
      const params = Object.fromEntries(conninfo.split(' ').map((kv) => kv.split('=') as [string, string]));
      assert.equal(params.host, '127.0.0.1');
      assert.match(params.port, /^\d+$/);
      assert.equal(params.sslmode, 'require');
      assert.ok(password.length >= 12);
      const upstream = Number(/ -> 127\.0\.0\.1:(\d+)\/demo/.exec(server.stderr())?.[1]);
      assert.ok(upstream > 0, server.stderr());

      // The line as printed, through a shell, with queries added. Server-side checks, so that
      // what is counted is the data itself, whatever masking does to values on their way out.
      const luhnOk = `(SELECT sum(CASE WHEN (16 - i) % 2 = 1
                                  THEN (CASE WHEN d * 2 > 9 THEN d * 2 - 9 ELSE d * 2 END) ELSE d END) % 10 = 0
                       FROM (SELECT i, substr(card_number, i, 1)::int AS d FROM generate_series(1, 16) i) x)`;
      const queries = [
        "SELECT 'customers', count(*) FROM customers",
        "SELECT 'orders', count(*) FROM orders",
        "SELECT 'orders-with-customer', count(*) FROM orders o JOIN customers c ON c.id = o.customer_id",
        "SELECT 'emails', count(*) FROM customers WHERE email ~ '^[a-z.-]+[0-9]+@example\\.com$'",
        "SELECT 'ssns', count(*) FROM customers WHERE ssn ~ '^9[0-9]{2}-[0-9]{2}-[0-9]{4}$'",
        `SELECT 'cards', count(*) FROM customers WHERE card_number ~ '^[0-9]{16}$' AND ${luhnOk}`,
        "SELECT 'phones', count(*) FROM customers WHERE phone ~ '^\\+1-555-[0-9]{3}-[0-9]{4}$'",
        "SELECT 'notes-with-email', count(*) FROM customers WHERE notes LIKE '%@example.com%'",
      ];
      const quoted = queries.map(
        (q) => `-c "${q.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('$', '\\$')}"`,
      );
      const r = await run(
        '/bin/bash',
        ['-c', `${psqlLine} -X -A -t -F '|' -v ON_ERROR_STOP=1 ${quoted.join(' ')}`],
        {
          cwd: dir,
          env: { ...cleanEnv(), PGPASSFILE: '/dev/null', PGCONNECT_TIMEOUT: '10' },
        },
      );
      assert.equal(r.code, 0, r.stderr);
      const counts = Object.fromEntries(lines(r.stdout).map((l) => l.split('|') as [string, string]));
      assert.deepEqual(counts, {
        customers: '1000',
        orders: '5000',
        'orders-with-customer': '5000',
        emails: '1000',
        ssns: '1000',
        cards: '1000',
        phones: '1000',
        'notes-with-email': '100',
      });
      // A row as a client sees it, whatever its values are made into.
      const row = await run(
        '/bin/bash',
        [
          '-c',
          `${psqlLine} -X -A -t -c "SELECT id, full_name FROM customers WHERE id = 1" -c "SELECT reverse(email), replace(ssn, '-', '') FROM customers WHERE id = 1"`,
        ],
        {
          env: { ...cleanEnv(), PGPASSFILE: '/dev/null' },
        },
      );
      assert.equal(row.code, 0, row.stderr);
      const [first, transformed] = lines(row.stdout);
      assert.match(first, /^1\|\S+ \S+$/);
      // Classified at start (built-in default policy): transformations the detectors do not
      // recognise are masked too (the clear forms: moc.elpmaxe@<digits><last>.<first>, 9 digits).
      const [revEmail, bareSsn] = transformed.split('|');
      assert.doesNotMatch(revEmail, /^moc\.elpmaxe@[0-9]+[a-z]+\.[a-z]+$/, transformed);
      assert.doesNotMatch(bareSsn, /^9[0-9]{8}$/, transformed);
      console.error(`demo: reverse(email), replace(ssn) came back as ${transformed}`);

      const exit = await server.stop('SIGINT');
      assert.equal(exit.code, 0, exit.stderr);
      assert.equal(exit.signal, null);
      assert.match(exit.stderr, /SIGINT: stopping, flushing recordings/);
      assert.equal(await accepts(upstream), false, 'the demo PostgreSQL is stopped');
      assert.deepEqual(
        [...demoDirs()].filter((d) => !before.has(d)),
        [],
        'its files are removed',
      );

      // The store in the cwd, found without --store.
      assert.ok(fs.existsSync(path.join(dir, 'bastion.db')));
      const list = await bastion(['sessions', 'list', '--json'], { cwd: dir });
      assert.equal(list.code, 0, list.stderr);
      const sessions = JSON.parse(list.stdout) as SessionInfo[];
      assert.equal(sessions.length, 2);
      for (const s of sessions) {
        assert.equal(s.identity, 'demo');
        assert.equal(s.connection, 'demo');
        assert.equal(s.tls, true);
        assert.notEqual(s.endedAt, null);
      }
      assert.deepEqual(
        sessions.map((s) => s.statements),
        [2, queries.length],
      );
      const show = await bastion(['sessions', 'show', sessions[1].id, '--json'], { cwd: dir });
      const { statements } = JSON.parse(show.stdout) as { statements: StatementRecord[] };
      // Literals compared with a classified column are the client's PII as far as the store
      // knows (record_client_values: masked): kept masked, the statements otherwise as sent.
      const literalsHidden = (q: string) => q.replace(/'[^']*'/g, "'…'");
      assert.deepEqual(
        statements.map((s) => [literalsHidden(s.sql), s.rows, s.tag]),
        queries.map((q) => [literalsHidden(q), 1, 'SELECT 1']),
      );
      for (const q of queries.filter((x) => x.includes("email ~ '")))
        assert.ok(!statements.some((s) => s.sql === q), 'the pattern on email is masked in the store');
      const verify = await bastion(['verify'], { cwd: dir });
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      assert.match(verify.stdout, /^ok: /);
      assert.equal(
        fs.readFileSync(path.join(dir, 'bastion.db')).indexOf(password),
        -1,
        'the demo password is not stored',
      );
    } finally {
      remove();
    }
  });

  test('SIGINT while the demo database starts: exit 0, nothing left running', async () => {
    const { dir, remove } = tempDir('bastion-cli-demo-');
    const before = demoDirs();
    try {
      const child = spawn(process.execPath, [BASTION_BIN, 'serve'], {
        cwd: dir,
        env: cleanEnv(),
        stdio: 'pipe',
      });
      let stderr = '';
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no start message: ${stderr}`)), 10_000);
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
          if (stderr.includes('starting the embedded demo PostgreSQL')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(killer);
      assert.equal(code, 0, stderr);
      assert.doesNotMatch(stdout, /ready/);
      assert.deepEqual(
        [...demoDirs()].filter((d) => !before.has(d)),
        [],
        'no demo PostgreSQL left behind',
      );
    } finally {
      remove();
    }
  });

  test('a failure after the demo database started: exit 1 (not clobbered), the database stopped', async () => {
    const { dir, remove } = tempDir('bastion-cli-demo-');
    const before = demoDirs();
    try {
      // A store that cannot be created: the gateway fails after the demo database is up.
      fs.writeFileSync(path.join(dir, 'file'), '');
      const r = await bastion(['serve', '--store', 'file/sub/bastion.db'], { cwd: dir, timeoutMs: 40_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stdout, /ready/);
      assert.match(r.stderr, /^bastion: .*store/m);
      assert.deepEqual(
        [...demoDirs()].filter((d) => !before.has(d)),
        [],
        'no demo PostgreSQL left behind',
      );
    } finally {
      remove();
    }
  });
});
