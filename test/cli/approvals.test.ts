// `bastion approvals` decides on statements held by a running `bastion serve` while a real
// client waits, through the serve's control socket.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { controlCall, controlSocketPath } from '../../cli/control.js';
import type { Approval } from '../../shared/api.js';
import { ApiError } from '../../shared/rpc.js';
import { bastion, type RunningBastion, startBastion, tempDir } from '../helpers/cli.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let db: TestPostgres;
let serve: RunningBastion;
let tmp: ReturnType<typeof tempDir>;
let config: string;
let port = 0;

before(async () => {
  db = await startPostgres({ version: 18 });
  const setup = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
  });
  await setup.connect();
  await setup.query('CREATE TABLE jobs (id int); INSERT INTO jobs SELECT generate_series(1, 10)');
  await setup.end();
  tmp = tempDir();
  config = path.join(tmp.dir, 'bastion.yaml');
  fs.writeFileSync(
    config,
    `store: ./audit.db
connections:
  - name: app
    listen: 127.0.0.1:0
    upstream: postgres://${db.user}:\${UP_PW}@127.0.0.1:${db.port}/${db.database}?sslmode=disable
identities:
  - name: agent-1
    password: agent-secret
    connections: [app]
`,
  );
  serve = await startBastion(['serve', '--config', config, '--no-ui'], { env: { UP_PW: db.password } });
  port = serve.ports().get('app')!;
});

after(async () => {
  await serve?.stop();
  await db?.stop();
  tmp?.remove();
});

const client = () =>
  new pg.Client({ host: '127.0.0.1', port, user: 'agent-1', password: 'agent-secret', database: 'x' });

/** The CLI with the environment the config needs. */
const cli = (args: string[]) => bastion(args, { env: { UP_PW: db.password } });

async function listPending(): Promise<Approval[]> {
  const r = await cli(['approvals', 'list', '--config', config, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Approval[];
}

/** Polls `approvals list` until a statement is held (the test's timeout bounds it). */
async function nextPending(): Promise<Approval> {
  for (;;) {
    const list = await listPending();
    if (list.length > 0) return list[0];
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('approve from the CLI while the client waits, then deny another', async () => {
  const c = client();
  await c.connect();
  try {
    const held = c.query('DELETE FROM jobs');
    const a = await nextPending();
    assert.equal(a.state, 'pending');
    assert.equal(a.identity, 'agent-1');
    assert.equal(a.sql, 'DELETE FROM jobs');
    const text = await cli(['approvals', 'list', '--config', config]);
    assert.match(text.stdout, new RegExp(`${a.id}\\s+pending`));
    const ok = await cli(['approvals', 'approve', a.id, '--config', config, '--as', 'ops-carol']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /approved by ops-carol/);
    assert.equal((await held).rowCount, 10);

    const again = await cli(['approvals', 'approve', a.id, '--config', config]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already approved/);

    const held2 = c.query('UPDATE jobs SET id = 0').then(
      () => null,
      (e: { code?: string }) => e,
    );
    const b = await nextPending();
    const self = await cli(['approvals', 'approve', b.id, '--config', config, '--as', 'agent-1']);
    assert.equal(self.code, 1);
    assert.match(self.stderr, /cannot approve its own statement/);
    const no = await cli(['approvals', 'deny', b.id, '--config', config]);
    assert.equal(no.code, 0, no.stderr);
    assert.equal((await held2)?.code, '42501');
  } finally {
    await c.end();
  }
  const all = await cli(['approvals', 'list', '--all', '--config', config, '--json']);
  const states = (JSON.parse(all.stdout) as Approval[]).map((x) => `${x.state}:${x.decidedBy}`);
  assert.ok(states.includes('approved:ops-carol'), states.join(','));
  assert.ok(
    states.some((s) => s.startsWith('denied:cli:')),
    states.join(','),
  );
});

/** The error a control-socket call is refused with. */
async function refusal(method: string, params: unknown[]): Promise<ApiError> {
  const socket = controlSocketPath(path.join(tmp.dir, 'audit.db'));
  try {
    await controlCall(socket, method as 'listApprovals', params);
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return e;
  }
  assert.fail(`${method} was not refused`);
}

test('the control socket: owner-only, one dispatcher, codes as data through the real CLI and serve', async () => {
  const socket = controlSocketPath(path.join(tmp.dir, 'audit.db'));
  assert.equal(fs.statSync(socket).mode & 0o777, 0o600);
  // The CLI's own refusal of a decision, by the gateway's code: one line, exit 1.
  const missing = await cli(['approvals', 'approve', 'no-such-approval', '--config', config]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'bastion: no approval no-such-approval\n');
  assert.equal((await refusal('decideApproval', ['no-such-approval', 'deny', 'x'])).code, 'not-found');
  assert.equal((await refusal('dispose', [])).code, 'unknown-method');
  assert.equal((await refusal('listApprovals', ['pending', 'extra'])).code, 'bad-arguments');
  assert.equal((await refusal('listApprovals', ['sideways'])).code, 'bad-arguments');
  const url = `postgres://${db.user}@127.0.0.1:${db.port}/${db.database}?sslmode=disable`;
  const sqlstate = await refusal('openSharedStore', [{ url, password: 'not-the-password', role: 'reader' }]);
  assert.equal(sqlstate.code, '28P01');
  await assert.rejects(
    controlCall(controlSocketPath(path.join(tmp.dir, 'nobody.db')), 'listApprovals', []),
    (e: unknown) => e instanceof ApiError && e.code === 'unavailable',
  );
});

test('without a running serve, approvals says so (exit 1, one line)', async () => {
  const other = path.join(tmp.dir, 'other.yaml');
  fs.writeFileSync(other, fs.readFileSync(config, 'utf8').replace('./audit.db', './nobody.db'));
  const r = await cli(['approvals', 'list', '--config', other]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^bastion: no running bastion serve for this store/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('a restart while a statement is held keeps the record: the approval ends cancelled', async () => {
  const check = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
  });
  await check.connect();
  await check.query('INSERT INTO jobs SELECT generate_series(1, 5)');
  const c = client();
  c.on('error', () => {});
  await c.connect();
  const held = c.query('DELETE FROM jobs').then(
    () => null,
    (e: { code?: string }) => e,
  );
  const a = await nextPending();
  const exit = await serve.stop('SIGTERM');
  assert.equal(exit.code, 0, exit.stderr);
  assert.ok((await held) !== null, 'the held statement did not run');
  await c.end().catch(() => {});
  serve = await startBastion(['serve', '--config', config, '--no-ui'], { env: { UP_PW: db.password } });
  const all = await cli(['approvals', 'list', '--all', '--config', config, '--json']);
  const found = (JSON.parse(all.stdout) as Approval[]).find((x) => x.id === a.id);
  assert.equal(found?.state, 'cancelled');
  try {
    assert.equal(
      Number((await check.query('SELECT count(*) AS n FROM jobs WHERE id > 0')).rows[0].n),
      5,
      'nothing was deleted',
    );
  } finally {
    await check.end();
  }
});
