// The gateway killed with SIGKILL under load, then started again on the same store: the store
// opens, its chain verifies, the sessions the kill cut off are marked interrupted, and (the
// promise to clients) every statement a client saw acknowledged is in the store.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import type { SessionInfo } from '../../shared/types.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { cli, type ServeProcess, startServe, writeServeConfig } from './serve-process.js';

const CLIENTS = 8;
/** Every client has this many acknowledged statements before the kill. */
const ACKED_BEFORE_KILL = 40;
const IDENTITY = { name: 'loader', password: 'sigkill-loader-secret' };

let db: TestPostgres;
let dir: string;
let store: string;
let config: { file: string; env: Record<string, string> };
let gateway: ServeProcess | null = null;

/** What each client saw acknowledged (CommandComplete received), as the SQL it sent. */
const acked: string[][] = [];
let killedSessions: SessionInfo[] = [];

before(async () => {
  db = await startPostgres({ version: 18 });
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query('CREATE TABLE acked (client int, n int, via text)');
  await admin.end();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-rel-kill-'));
  store = path.join(dir, 'bastion.db');
  config = writeServeConfig(path.join(dir, 'bastion.yaml'), { db, store, identities: [IDENTITY] });
});

after(async () => {
  await gateway?.stop('SIGKILL');
  await db?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** One client inserting as fast as it can: autocommit INSERTs, every fifth one in BEGIN/COMMIT. */
async function load(i: number, port: number, enough: () => void): Promise<void> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port,
    user: IDENTITY.name,
    password: IDENTITY.password,
    database: 'appdb',
    application_name: `rel-kill-${i}`,
  });
  c.on('error', () => {}); // the kill
  await c.connect();
  const mine: string[] = [];
  acked[i] = mine;
  try {
    for (let n = 1; ; n++) {
      if (n % 5 === 0) {
        const sql = `INSERT INTO acked VALUES (${i}, ${n}, 'tx')`;
        await c.query('BEGIN');
        await c.query(sql);
        await c.query('COMMIT');
        mine.push(sql); // acknowledged once COMMIT completed
      } else {
        const sql = `INSERT INTO acked VALUES (${i}, ${n}, 'auto')`;
        await c.query(sql);
        mine.push(sql);
      }
      if (mine.length === ACKED_BEFORE_KILL) enough();
    }
  } catch {
    // The gateway died under this client: expected, that is the test.
  }
}

test('SIGKILL under load, then a restart on the same store: it opens, verifies, and marks the cut-off sessions interrupted', {
  timeout: 180_000,
}, async (t) => {
  gateway = await startServe(config.file, config.env);
  let ready = 0;
  let allEnough!: () => void;
  const enoughLoad = new Promise<void>((r) => {
    allEnough = r;
  });
  const loaders = Array.from({ length: CLIENTS }, (_, i) =>
    load(i, gateway!.port, () => {
      if (++ready === CLIENTS) allEnough();
    }),
  );
  await enoughLoad;
  // Under full load, mid-statement for most clients.
  const killed = await gateway.stop('SIGKILL');
  assert.equal(killed.signal, 'SIGKILL');
  await Promise.all(loaders);
  const total = acked.reduce((n, a) => n + a.length, 0);
  t.diagnostic(`${total} statements acknowledged to ${CLIENTS} clients before the kill`);

  gateway = await startServe(config.file, config.env);
  assert.match(
    gateway.stderr(),
    new RegExp(`${CLIENTS} session\\(s\\) from an earlier run were not closed; marked as interrupted`),
  );
  // A new session works on the restarted gateway.
  const c = new pg.Client({
    host: '127.0.0.1',
    port: gateway.port,
    user: IDENTITY.name,
    password: IDENTITY.password,
    database: 'appdb',
  });
  await c.connect();
  assert.equal((await c.query('SELECT count(*)::int AS n FROM acked')).rows[0].n >= total, true);
  await c.end();
  const stopped = await gateway.stop('SIGTERM');
  assert.equal(stopped.code, 0, gateway.stderr());
  gateway = null;

  const v = await cli(['verify', '--store', store], dir);
  assert.equal(v.code, 0, `verify: ${v.stdout}${v.stderr}`);

  const s = openSqliteStore(store, { readonly: true });
  try {
    assert.equal(s.verify().ok, true);
    killedSessions = s.listSessions().filter((x) => x.applicationName?.startsWith('rel-kill-'));
    assert.equal(killedSessions.length, CLIENTS, 'every loader session was recorded');
    for (const x of killedSessions) {
      assert.equal(x.endReason, 'interrupted', `session ${x.applicationName}`);
      assert.notEqual(x.endedAt, null);
    }
  } finally {
    s.close();
  }
});

test('nothing acknowledged to a client before the SIGKILL is missing from the store', {
  timeout: 60_000,
}, async (t) => {
  assert.equal(killedSessions.length, CLIENTS, 'runs after the SIGKILL test');
  const s = openSqliteStore(store, { readonly: true });
  const missing: string[] = [];
  let stored = 0;
  try {
    for (const x of killedSessions) {
      const i = Number(x.applicationName!.slice('rel-kill-'.length));
      const sqls = new Set(
        s
          .listStatements(x.id)
          .filter((st) => st.errorCode === null)
          .map((st) => st.sql),
      );
      stored += sqls.size;
      for (const sql of acked[i]) if (!sqls.has(sql)) missing.push(`rel-kill-${i}: ${sql}`);
    }
  } finally {
    s.close();
  }
  t.diagnostic(`${missing.length} acknowledged statement(s) missing from the store (${stored} stored)`);
  assert.deepEqual(
    missing.slice(0, 20),
    [],
    `${missing.length} acknowledged statements are not in the store`,
  );
});
