// The `bastion` command as users run it (node bin/bastion.js ...): usage errors, then `serve
// --config` in front of a real PostgreSQL 18 with psql through it over TLS, a clean SIGTERM that
// flushes every recording (also of a session still open), and what `sessions`, `replay` and
// `verify` make of the store, down to a tampered file.

import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { SessionInfo, StatementRecord } from '../../shared/types.js';
import { bastion, type Exit, lines, type RunningBastion, startBastion, tempDir } from '../helpers/cli.js';
import { type ClientTarget, libpqEnv, runPsql } from '../helpers/clients.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

/** A usage or config error: exit 2, nothing on stdout, one line on stderr starting `bastion: `. */
function usageError(r: { code: number | null; stdout: string; stderr: string }, what: RegExp): string {
  assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  const l = lines(r.stderr);
  assert.equal(l.length, 1, `one line on stderr, got ${JSON.stringify(r.stderr)}`);
  assert.ok(l[0].startsWith('bastion: '), l[0]);
  assert.match(l[0], what);
  return l[0];
}

describe('bad arguments and configs: one line on stderr, exit 2', { concurrency: 8 }, () => {
  let dir: string;
  let removeDir: () => void;
  before(() => {
    ({ dir, remove: removeDir } = tempDir());
    fs.writeFileSync(
      path.join(dir, 'bad.yaml'),
      'store: ./x.db\nconnections:\n  - name: app\n    listen: localhost\n    upstream: postgres://u@h/d\n',
    );
    fs.writeFileSync(path.join(dir, 'notastore.db'), 'plain text\n');
  });
  after(() => removeDir());

  const cases: [string, string[], RegExp][] = [
    ['no command', [], /no command/],
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['an unknown flag', ['serve', '--bogus'], /unknown option --bogus/],
    ['an unknown flag of sessions', ['sessions', 'list', '--verbose'], /unknown option --verbose/],
    ['a flag value missing at the end', ['serve', '--config'], /--config needs a value/],
    [
      'a flag value missing before another flag',
      ['sessions', 'list', '--store', '--json'],
      /--store needs a value/,
    ],
    ['a value given to a boolean flag', ['sessions', 'list', '--json=yes'], /--json takes no value/],
    ['sessions without a subcommand', ['sessions'], /usage: bastion sessions/],
    ['sessions with an unknown subcommand', ['sessions', 'delete'], /usage: bastion sessions/],
    ['sessions show without an ID', ['sessions', 'show'], /sessions show needs a session ID/],
    ['replay without an ID', ['replay'], /replay needs a session ID/],
    ['an extra argument', ['verify', 'extra'], /unexpected argument "extra"/],
    ['a bad --ui-port', ['serve', '--ui-port', 'eighty'], /--ui-port/],
    ['--demo with --config', ['serve', '--demo', '--config', 'bad.yaml'], /cannot be used together/],
    ['a missing store', ['sessions', 'list', '--store', 'nope.db'], /no store at .*nope\.db/],
    ['replay from a missing store', ['replay', 'abc', '--store', 'nope.db'], /no store at .*nope\.db/],
    ['verify of a missing store', ['verify', '--store', 'nope.db'], /no store at .*nope\.db/],
    ['no store in the cwd', ['verify'], /no store at .*bastion\.db/],
    ['a store that is not one', ['verify', '--store', 'notastore.db'], /notastore\.db.*not a database/],
    ['a directory as the store', ['sessions', 'list', '--store', '.'], /is a directory/],
    ['a config that cannot be read', ['serve', '--config', 'missing.yaml'], /^bastion: missing\.yaml:1: /],
  ];
  for (const [name, args, what] of cases) {
    test(name, async () => {
      usageError(await bastion(args, { cwd: dir }), what);
    });
  }

  test('a config with an error, for serve and for the store-reading commands: names file:line:key', async () => {
    for (const args of [
      ['serve', '--config', 'bad.yaml'],
      ['sessions', 'list', '--config', 'bad.yaml'],
      ['replay', 'x', '--config', 'bad.yaml'],
      ['verify', '--config', 'bad.yaml'],
    ]) {
      const line = usageError(await bastion(args, { cwd: dir }), /./);
      assert.match(
        line,
        /^bastion: bad\.yaml:4: connections\[0\]\.listen: expected host:port/,
        args.join(' '),
      );
    }
  });

  test('./bastion.yaml is found without --config, and its errors named', async () => {
    const { dir: cwd, remove } = tempDir();
    try {
      fs.writeFileSync(
        path.join(cwd, 'bastion.yaml'),
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a ${VAR} reference in the config
        'connections:\n  - name: app\n    listen: 127.0.0.1:0\n    upstream: postgres://u:${NOT_SET_ANYWHERE}@h/d\n',
      );
      const line = usageError(await bastion(['serve'], { cwd }), /./);
      assert.equal(
        line,
        'bastion: bastion.yaml:4: connections[0].upstream: environment variable NOT_SET_ANYWHERE is not set',
      );
    } finally {
      remove();
    }
  });

  test('--help prints the usage on stdout and exits 0', async () => {
    const r = await bastion(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: bastion/);
    for (const c of ['serve', 'sessions list', 'sessions show', 'replay', 'verify'])
      assert.ok(r.stdout.includes(c), c);
  });
});

/** psql kept open on stdin: statements are sent one by one, the session stays open in between. */
class OpenPsql {
  readonly child: ChildProcessWithoutNullStreams;
  out = '';
  err = '';
  readonly closed: Promise<number | null>;
  constructor(t: ClientTarget) {
    this.child = spawn('/usr/bin/psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=0'], {
      env: libpqEnv(t),
      stdio: 'pipe',
    });
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.out += d;
    });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => {
      this.err += d;
    });
    this.closed = new Promise((resolve) => this.child.once('close', resolve));
  }
  /** Sends one statement and waits for `expect` in psql's output. */
  async query(sql: string, expect: string): Promise<void> {
    this.child.stdin.write(`${sql};\n`);
    const end = Date.now() + 10_000;
    while (!this.out.includes(expect)) {
      if (Date.now() > end) throw new Error(`psql did not print ${expect}: ${this.out}${this.err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('serve --config in front of PostgreSQL 18', () => {
  const AGENT_PW = 'agent:pw@/with#specials';
  let pg: TestPostgres;
  let dir: string;
  let removeDir: () => void;
  let env: Record<string, string>;
  let server: RunningBastion;
  let exit: Exit;
  /** Session ids: TLS on `app` (first), plain on `reports`, then one held open until SIGTERM. */
  let ids: { open: string; tls: string; plain: string };
  let store: string;

  const target = (port: number, over: Partial<ClientTarget> = {}): ClientTarget => ({
    host: '127.0.0.1',
    port,
    user: 'agent',
    password: AGENT_PW,
    database: 'anything',
    sslmode: 'require',
    ...over,
  });

  before(async () => {
    pg = await startPostgres({ version: 18 });
    ({ dir, remove: removeDir } = tempDir());
    store = path.join(dir, 'data', 'audit.db');
    // The upstream password comes from the environment; port 0: any free port, logged on stderr.
    fs.writeFileSync(
      path.join(dir, 'bastion.yaml'),
      `store: ./data/audit.db
connections:
  - name: app
    listen: 127.0.0.1:0
    upstream: postgres://${pg.user}:\${UPSTREAM_PW}@127.0.0.1:${pg.port}/${pg.database}?sslmode=disable
  - name: reports
    listen: 127.0.0.1:0
    upstream: postgres://${pg.user}:\${UPSTREAM_PW}@127.0.0.1:${pg.port}/${pg.database}?sslmode=disable
identities:
  - name: agent
    password: \${AGENT_PW}
    connections: [app, reports]
`,
    );
    env = { UPSTREAM_PW: pg.password, AGENT_PW };
  });

  after(async () => {
    if (server && server.child.exitCode === null) await server.stop('SIGKILL');
    await pg?.stop();
    removeDir?.();
  });

  test('serve prints "ready" once both listeners accept; psql works through each, over TLS', async () => {
    server = await startBastion(['serve', '--config', 'bastion.yaml'], { cwd: dir, env });
    assert.deepEqual(lines(server.stdout()), ['ready']);
    const ports = server.ports();
    assert.deepEqual([...ports.keys()].sort(), ['app', 'reports']);
    for (const port of ports.values()) assert.ok(port > 0);

    const r = await runPsql(
      [
        '-c',
        'CREATE TABLE items (id int PRIMARY KEY, name text)',
        '-c',
        "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 5) g",
        '-c',
        'SELECT id, name FROM items ORDER BY id',
        '-c',
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
        '-c',
        'SELECT 1/0',
      ],
      target(ports.get('app')!),
    );
    assert.equal(r.code, 1, r.stderr); // the division by zero, the last -c
    assert.match(r.stdout, /INSERT 0 5/);
    assert.match(r.stdout, /\(5 rows\)/);
    assert.match(r.stderr, /division by zero/);

    // Without TLS (the gateway's upstream link is plain here too, so pg_stat_ssl says f).
    const plain = await runPsql(
      ['-At', '-c', 'SELECT count(*) FROM items'],
      target(ports.get('reports')!, { sslmode: 'disable' }),
    );
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, '5\n');
  });

  test('SIGTERM with a session still open: exit 0, that session closed, its statements flushed', async () => {
    const psql = new OpenPsql(target(server.ports().get('app')!));
    await psql.query("SELECT 'held-' || 1", 'held-1');
    await psql.query("SELECT 'held-' || 2", 'held-2');
    const t0 = Date.now();
    exit = await server.stop('SIGTERM');
    assert.equal(exit.code, 0, exit.stderr);
    assert.equal(exit.signal, null);
    // The gateway ends the held session at once; psql, waiting on its stdin, does not read the
    // close, and the gateway cuts such a client after 5 s.
    assert.ok(Date.now() - t0 < 10_000, 'stopped promptly');
    assert.match(exit.stderr, /SIGTERM: stopping, flushing recordings/);
    assert.doesNotMatch(exit.stderr, /could not flush|error/i);
    psql.child.stdin.end(); // psql notices the closed connection only when it reads on
    await psql.closed;
    assert.ok(fs.existsSync(store));

    const list = await bastion(['sessions', 'list', '--store', store, '--json']);
    assert.equal(list.code, 0, list.stderr);
    const sessions = JSON.parse(list.stdout) as SessionInfo[];
    assert.equal(sessions.length, 3);
    const [open, plain, tls] = sessions; // newest first
    ids = { open: open.id, tls: tls.id, plain: plain.id };
    assert.equal(open.statements, 2);
    assert.notEqual(open.endedAt, null, 'the open session was closed on stop');
    assert.ok(open.endReason, 'with a reason');
  });

  test('sessions list --json: every session with identity, connection, client, start, end, statement count', async () => {
    const r = await bastion(['sessions', 'list', '--json', '--store', store]);
    const sessions = JSON.parse(r.stdout) as SessionInfo[];
    assert.deepEqual(
      sessions.map((s) => [s.id, s.identity, s.connection, s.tls, s.statements]),
      [
        [ids.open, 'agent', 'app', true, 2],
        [ids.plain, 'agent', 'reports', false, 1],
        [ids.tls, 'agent', 'app', true, 5],
      ],
    );
    for (const s of sessions) {
      assert.match(s.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.match(s.clientAddress, /^127\.0\.0\.1:\d+$/);
      assert.ok(s.endedAt !== null && s.endedAt >= s.startedAt);
    }
    assert.ok(
      sessions[0].startedAt >= sessions[1].startedAt && sessions[1].startedAt >= sessions[2].startedAt,
    );
  });

  test('sessions list: a readable table, newest first', async () => {
    const r = await bastion(['sessions', 'list', '--store', store]);
    assert.equal(r.code, 0, r.stderr);
    const [header, ...rows] = lines(r.stdout);
    assert.deepEqual(header.split(/\s{2,}/), [
      'ID',
      'IDENTITY',
      'CONNECTION',
      'CLIENT',
      'START',
      'END',
      'STATEMENTS',
    ]);
    assert.equal(rows.length, 3);
    const cells = rows.map((l) => l.split(/\s{2,}/));
    assert.deepEqual(
      cells.map((c) => [c[0], c[1], c[2], c[6]]),
      [
        [ids.open, 'agent', 'app', '2'],
        [ids.plain, 'agent', 'reports', '1'],
        [ids.tls, 'agent', 'app', '5'],
      ],
    );
    for (const c of cells) {
      assert.match(c[4], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.match(c[5], /^\d{4}-\d\d-\d\dT/);
    }
    // Columns line up: each column starts at the same offset in every line.
    const at = (l: string, v: string) => l.indexOf(v);
    for (const [i, row] of rows.entries()) assert.equal(at(row, 'agent'), at(header, 'IDENTITY'), `row ${i}`);
  });

  test('sessions show ID --json: the statements with sql, rows, tag, error, decision, duration', async () => {
    const r = await bastion(['sessions', 'show', ids.tls, '--json', '--store', store]);
    assert.equal(r.code, 0, r.stderr);
    const { session, statements } = JSON.parse(r.stdout) as {
      session: SessionInfo;
      statements: StatementRecord[];
    };
    assert.equal(session.id, ids.tls);
    assert.equal(session.authMethod, 'scram-sha-256');
    assert.equal(session.applicationName, 'psql');
    assert.equal(session.database, 'anything');
    assert.deepEqual(
      statements.map((s) => [s.seq, s.sql, s.rows, s.tag, s.errorCode]),
      [
        [1, 'CREATE TABLE items (id int PRIMARY KEY, name text)', 0, 'CREATE TABLE', null],
        [2, "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 5) g", 5, 'INSERT 0 5', null],
        [3, 'SELECT id, name FROM items ORDER BY id', 5, 'SELECT 5', null],
        [4, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()', 1, 'SELECT 1', null],
        [5, 'SELECT 1/0', 0, null, '22012'],
      ],
    );
    assert.equal(statements[4].errorMessage, 'division by zero');
    for (const s of statements) {
      assert.equal(s.sessionId, ids.tls);
      assert.equal(s.protocol, 'simple');
      assert.ok(['allow', 'warn'].includes(s.decision), s.decision);
      assert.ok(s.durationUs >= 0 && s.startedAt >= session.startedAt);
      assert.ok(s.firstFrame <= s.lastFrame);
    }
    // The held-open session's statements made it too, flushed on SIGTERM.
    const held = JSON.parse(
      (await bastion(['sessions', 'show', ids.open, '--json', '--store', store])).stdout,
    ) as {
      statements: StatementRecord[];
    };
    assert.deepEqual(
      held.statements.map((s) => [s.sql, s.rows, s.tag]),
      [
        ["SELECT 'held-' || 1;", 1, 'SELECT 1'],
        ["SELECT 'held-' || 2;", 1, 'SELECT 1'],
      ],
    );
  });

  test('sessions show ID (a unique prefix will do): a readable table', async () => {
    const r = await bastion(['sessions', 'show', ids.tls.slice(0, 13), '--store', store]);
    assert.equal(r.code, 0, r.stderr);
    const l = lines(r.stdout);
    assert.equal(l[0], `session ${ids.tls}`);
    assert.match(l[1], /identity agent \(scram-sha-256\)\s+connection app\s+client 127\.0\.0\.1:\d+/);
    assert.match(l[2], /started \d{4}-.*Z\s+ended \d{4}-.*Z \(.+\)/);
    const header = l.findIndex((x) => x.startsWith('#'));
    assert.deepEqual(l[header].split(/\s{2,}/), ['#', 'DECISION', 'DURATION', 'ROWS', 'RESULT', 'SQL']);
    const rows = l.slice(header + 1).map((x) => x.split(/\s{2,}/));
    assert.deepEqual(
      rows.map((c) => [c[0], c[3], c[4]]),
      [
        ['1', '0', 'CREATE TABLE'],
        ['2', '5', 'INSERT 0 5'],
        ['3', '5', 'SELECT 5'],
        ['4', '1', 'SELECT 1'],
        ['5', '0', 'ERROR 22012'],
      ],
    );
    assert.equal(rows[2][5], 'SELECT id, name FROM items ORDER BY id');
    for (const c of rows) assert.match(c[2], /^\d+\.\d\dms$/);
  });

  test('replay ID: one JSON object a line, keys seq t_us dir type decoded, seq 1, 2, 3, ...', async () => {
    const r = await bastion(['replay', ids.tls, '--store', store]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const frames = lines(r.stdout).map((l, i) => {
      const f = JSON.parse(l) as {
        seq: number;
        t_us: number;
        dir: string;
        type: string;
        decoded: Record<string, unknown>;
      };
      assert.deepEqual(Object.keys(f), ['seq', 't_us', 'dir', 'type', 'decoded'], `line ${i + 1}`);
      assert.equal(f.seq, i + 1, 'seq strictly increasing from 1');
      assert.ok(Number.isInteger(f.t_us) && f.t_us >= 0);
      assert.ok(f.dir === 'client' || f.dir === 'server');
      assert.equal(typeof f.type, 'string');
      assert.ok(f.decoded !== null && typeof f.decoded === 'object' && !Array.isArray(f.decoded));
      return f;
    });
    // TLS: the SSLRequest, then the StartupMessage with the identity as the user.
    assert.deepEqual(
      frames.slice(0, 2).map((f) => [f.dir, f.type]),
      [
        ['client', 'SSLRequest'],
        ['client', 'StartupMessage'],
      ],
    );
    assert.equal((frames[1].decoded.parameters as Record<string, string>).user, 'agent');
    for (let i = 1; i < frames.length; i++)
      assert.ok(frames[i].t_us >= frames[i - 1].t_us, `t_us order at ${i + 1}`);
    const queries = frames.filter((f) => f.type === 'Query').map((f) => f.decoded.sql);
    assert.equal(queries.length, 5);
    assert.equal(queries[2], 'SELECT id, name FROM items ORDER BY id');
    assert.equal(frames.filter((f) => f.type === 'DataRow').length, 5 + 1);
    assert.ok(frames.some((f) => f.type === 'ErrorResponse' && f.decoded.code === '22012'));
    assert.equal(frames.at(-1)!.type, 'Terminate');

    // Without TLS, the StartupMessage is the first frame.
    const plain = lines((await bastion(['replay', ids.plain, '--store', store])).stdout).map((l) =>
      JSON.parse(l),
    );
    assert.equal(plain[0].seq, 1);
    assert.equal(plain[0].type, 'StartupMessage');
  });

  test('replay: no password or SCRAM secret anywhere', async () => {
    for (const id of [ids.open, ids.tls, ids.plain]) {
      const r = await bastion(['replay', id, '--store', store]);
      assert.equal(r.code, 0, r.stderr);
      for (const secret of [AGENT_PW, pg.password, encodeURIComponent(AGENT_PW)]) {
        assert.ok(!r.stdout.includes(secret), `session ${id}: a password is in the replay`);
      }
      const frames = lines(r.stdout).map(
        (l) => JSON.parse(l) as { seq: number; type: string; decoded: unknown },
      );
      for (const f of frames) {
        const text = JSON.stringify(f.decoded);
        // SCRAM client proof (p=) and server signature (v=): with the salt and nonces, either
        // lets anyone holding the store run a dictionary attack on the identity's password.
        assert.doesNotMatch(
          text,
          /(^|[",])p=[A-Za-z0-9+/]{20,}/,
          `client proof in frame ${f.seq} (${f.type})`,
        );
        assert.doesNotMatch(
          text,
          /(^|[",])v=[A-Za-z0-9+/]{20,}/,
          `server signature in frame ${f.seq} (${f.type})`,
        );
        if (f.type === 'PasswordMessage') assert.match(text, /redacted/);
      }
    }
    // Nor in the store file itself.
    const raw = fs.readFileSync(store);
    for (const secret of [AGENT_PW, pg.password])
      assert.equal(raw.indexOf(secret), -1, 'a password is in the store file');
  });

  test('verify: exit 0 and ok', async () => {
    const r = await bastion(['verify', '--store', store]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok: \d+ records intact in .*audit\.db; chain head [0-9a-f]{64}\n$/);
    const j = await bastion(['verify', '--json', '--store', store]);
    assert.equal(j.code, 0);
    assert.equal(JSON.parse(j.stdout).ok, true);
  });

  /** A copy of the store to tamper with. */
  function copyStore(name: string): string {
    const copy = path.join(dir, name);
    fs.copyFileSync(store, copy);
    return copy;
  }

  test('verify: an edited statements row makes it exit 1 naming the record that attests it', async () => {
    const copy = copyStore('edited-statement.db');
    const db = new Database(copy);
    const recordId = db
      .prepare('SELECT record_id FROM statements WHERE session_id = ? AND seq = 3')
      .pluck()
      .get(ids.tls) as number;
    db.prepare('UPDATE statements SET rows = 4 WHERE session_id = ? AND seq = 3').run(ids.tls);
    db.close();
    const r = await bastion(['verify', '--store', copy]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^FAILED: record ${recordId}: `));
    const j = JSON.parse((await bastion(['verify', '--json', '--store', copy])).stdout);
    assert.equal(j.ok, false);
    assert.equal(j.firstBad.id, recordId);
  });

  test('verify: a changed frame in the append-only records (trigger dropped) is named', async () => {
    const copy = copyStore('edited-record.db');
    const db = new Database(copy);
    // The frames record holding the INSERT's text: change one byte of it.
    const rows = db.prepare("SELECT id, body FROM records WHERE kind = 'frames' ORDER BY id").all() as {
      id: number;
      body: Buffer;
    }[];
    const victim = rows.find((x) => x.body.includes('generate_series(1, 5)'));
    assert.ok(victim, 'the frames record with the INSERT');
    const body = Buffer.from(victim.body);
    body[body.indexOf('generate_series(1, 5)') + 16] = '9'.charCodeAt(0);
    db.exec('DROP TRIGGER records_no_update');
    db.prepare('UPDATE records SET body = ? WHERE id = ?').run(body, victim.id);
    db.close();
    const r = await bastion(['verify', '--store', copy]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^FAILED: record ${victim.id}: `));
    // The other commands still read it (and show what is there now).
    const replay = await bastion(['replay', ids.tls, '--store', copy]);
    assert.equal(replay.code, 0);
    assert.ok(replay.stdout.includes('generate_series(9, 5)'));
  });

  test('verify: a deleted record is named', async () => {
    const copy = copyStore('deleted-record.db');
    const db = new Database(copy);
    const id = db.prepare("SELECT min(id) FROM records WHERE kind = 'statement'").pluck().get() as number;
    db.exec('DROP TRIGGER records_no_delete');
    db.prepare('DELETE FROM records WHERE id = ?').run(id);
    db.close();
    const r = await bastion(['verify', '--store', copy]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^FAILED: record ${id}: `));
  });

  test('replay of an unknown session id: one line, exit 2', async () => {
    usageError(
      await bastion(['replay', 'ffffffff-0000-4000-8000-000000000000', '--store', store]),
      /no session/,
    );
    usageError(await bastion(['sessions', 'show', 'zzz', '--store', store]), /no session "zzz"/);
  });

  test('--store defaults: the config of --config, then ./bastion.yaml, then ./bastion.db', async () => {
    const { dir: elsewhere, remove } = tempDir();
    try {
      const listed = async (args: string[], cwd: string, e: Record<string, string> = env) => {
        const r = await bastion(['sessions', 'list', '--json', ...args], { cwd, env: e });
        assert.equal(r.code, 0, `${args.join(' ')} in ${cwd}: ${r.stderr}`);
        return (JSON.parse(r.stdout) as SessionInfo[]).map((s) => s.id);
      };
      const all = [ids.open, ids.plain, ids.tls];
      // --config from another directory: the store is relative to the config file.
      assert.deepEqual(await listed(['--config', path.join(dir, 'bastion.yaml')], elsewhere), all);
      // ./bastion.yaml in the cwd.
      assert.deepEqual(await listed([], dir), all);
      const v = await bastion(['verify'], { cwd: dir, env });
      assert.equal(v.code, 0, v.stderr);
      assert.ok(v.stdout.includes(store), v.stdout);
      // Neither: ./bastion.db.
      fs.copyFileSync(store, path.join(elsewhere, 'bastion.db'));
      assert.deepEqual(await listed([], elsewhere, {}), all);
      const replay = await bastion(['replay', ids.plain], { cwd: elsewhere });
      assert.equal(replay.code, 0, replay.stderr);
      assert.equal(JSON.parse(lines(replay.stdout)[0]).type, 'StartupMessage');
      // --store wins over all of them.
      assert.deepEqual(await listed(['--store', store], elsewhere, {}), all);
    } finally {
      remove();
    }
  });

  test('serve: a listen address in use fails with one line, and no "ready"', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const cfg = path.join(dir, 'busy.yaml');
      fs.writeFileSync(
        cfg,
        `store: ./busy.db\nconnections:\n  - name: app\n    listen: 127.0.0.1:${port}\n    upstream: postgres://u@127.0.0.1:1/d\n`,
      );
      const r = await bastion(['serve', '--config', cfg], { cwd: dir });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
    } finally {
      blocker.close();
    }
  });
});
