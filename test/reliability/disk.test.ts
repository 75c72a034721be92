// The store's disk full (a real ENOSPC on a tiny tmpfs) under a real `bastion serve`: new statements are refused with 58030 and do not run while the
// store cannot be written, work again once it can, and the store then verifies with every frame
// in order (nothing half-written, nothing recorded during the failure lost).
// Needs mount permission (root here); without it, the same checks run against an in-process
// gateway whose SQLite store is limited by PRAGMA max_page_count / query_only (the test names say so).
// A read-only store under a live gateway: test/gateway/faults.test.ts ("store failure: fail closed")
// with the store's query_only hook, since the kernel refuses to remount a file system read-only
// while a process has a file on it open for writing.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { SqliteSessionStore } from '../../proxy/store/sqlite-store.js';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import { AGENT, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { errorFields } from '../helpers/raw-client.js';
import { cli, type ServeProcess, startServe, writeServeConfig } from './serve-process.js';

const IDENTITY = { name: 'writer', password: 'disk-writer-secret' };

/** A gateway whose store can be made to fail and heal. */
interface Rig {
  how: string;
  port: number;
  user: string;
  password: string;
  storePath: string;
  /** Makes the store's disk full / read-only. */
  fail(kind: 'full' | 'read-only'): void;
  heal(kind: 'full' | 'read-only'): void;
  /** Stops the gateway (flushing), keeping the store. */
  stop(): Promise<{ code: number | null; stderr: string }>;
}

let db: TestPostgres;
let dir: string;
let mountPoint: string | null = null;

function canMount(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-rel-mnt-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
}

/** REL_NO_MOUNT=1 runs the fallback even where mounting works. */
const MOUNT = process.env.REL_NO_MOUNT !== '1' && canMount();

/** Fills a file system to the last byte (ENOSPC), returning the filler's path. */
function fillUp(where: string): string {
  const filler = path.join(where, 'filler');
  const fd = fs.openSync(filler, 'a');
  const block = Buffer.alloc(64 * 1024, 0xab);
  try {
    for (let size = block.length; size >= 1; size = Math.floor(size / 2)) {
      for (;;) {
        try {
          fs.writeSync(fd, block, 0, size);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

async function tmpfsRig(): Promise<Rig> {
  mountPoint = path.join(dir, 'store-disk');
  fs.mkdirSync(mountPoint);
  // Small enough to fill in an instant, big enough for the store and its WAL to start.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mountPoint]);
  const storePath = path.join(mountPoint, 'bastion.db');
  const config = writeServeConfig(path.join(dir, 'bastion.yaml'), {
    db,
    store: storePath,
    identities: [IDENTITY],
  });
  const gw: ServeProcess = await startServe(config.file, config.env);
  let filler: string | null = null;
  return {
    how: 'a 16 MiB tmpfs filled to ENOSPC (bastion serve)',
    port: gw.port,
    user: IDENTITY.name,
    password: IDENTITY.password,
    storePath,
    fail(kind) {
      if (kind === 'full') filler = fillUp(mountPoint!);
      else throw new Error('read-only is not simulated on tmpfs');
    },
    heal() {
      fs.rmSync(filler!, { force: true });
      filler = null;
    },
    async stop() {
      const e = await gw.stop('SIGTERM');
      return { code: e.code, stderr: gw.stderr() };
    },
  };
}

async function pragmaRig(): Promise<Rig> {
  const gw: TestGateway = await startGateway(db);
  // The writing connection lives on the writer thread: its pragma() test hook.
  const store = gw.core.writer as unknown as Pick<SqliteSessionStore, 'pragma'>;
  const storePath = path.join(dir, 'kept.db');
  return {
    how: 'fallback without mount permission: PRAGMA max_page_count / query_only on the SQLite store',
    port: gw.port,
    user: AGENT.name,
    password: AGENT.password,
    storePath,
    fail(kind) {
      if (kind === 'full') {
        const [{ page_count }] = store.pragma('page_count') as [{ page_count: number }];
        store.pragma(`max_page_count = ${page_count}`);
      } else store.pragma('query_only = 1');
    },
    heal(kind) {
      if (kind === 'full') store.pragma('max_page_count = 1073741823');
      else store.pragma('query_only = 0');
    },
    async stop() {
      if (fs.existsSync(storePath)) return { code: 0, stderr: gw.logs.join('\n') };
      await gw.core.stop(); // closing checkpoints the WAL into the file copied here
      fs.copyFileSync(gw.storePath, storePath);
      fs.rmSync(gw.dir, { recursive: true, force: true });
      return { code: 0, stderr: gw.logs.join('\n') };
    },
  };
}

let rig: Rig;

before(async () => {
  db = await startPostgres({ version: 18 });
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query('CREATE TABLE disk_log (v text)');
  await admin.end();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-rel-disk-'));
  rig = MOUNT ? await tmpfsRig() : await pragmaRig();
});

after(async () => {
  try {
    await rig?.stop().catch(() => {});
  } finally {
    if (mountPoint) execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
    await db?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
});

async function directRows(): Promise<string[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query<{ v: string }>('SELECT v FROM disk_log ORDER BY v')).rows.map((r) => r.v);
  } finally {
    await c.end();
  }
}

const refused = (e: { code?: string; message?: string }) => {
  assert.equal(e.code, '58030', e.message);
  assert.match(e.message ?? '', /cannot record/);
  return true;
};

/** A result big enough that recording it needs new space in the store (about 1 MiB). */
const BIG = 'SELECT g, repeat(md5(g::text), 1000) FROM generate_series(1, 32) g';

/**
 * A real read-only remount is refused by the kernel (EBUSY) while the gateway holds the store open
 * for writing, so on tmpfs only the full disk is real; read-only is the SQLite query_only hook.
 */
const kinds: ('full' | 'read-only')[] = MOUNT ? ['full'] : ['full', 'read-only'];

describe(`the store's disk ${MOUNT ? '(tmpfs, bastion serve)' : '(fallback: PRAGMA max_page_count / query_only)'}`, () => {
  const app = 'rel-disk';
  let client: pg.Client;
  const inserted: string[] = [];

  async function connect(): Promise<pg.Client> {
    const c = new pg.Client({
      host: '127.0.0.1',
      port: rig.port,
      user: rig.user,
      password: rig.password,
      database: 'appdb',
      application_name: app,
    });
    c.on('error', () => {});
    await c.connect();
    return c;
  }

  before(async () => {
    client = await connect();
    await client.query("INSERT INTO disk_log VALUES ('0 before')");
    inserted.push('0 before');
  });

  for (const [k, kind] of kinds.entries()) {
    test(`disk ${kind}: new statements get 58030 and do not run; once it heals, statements run again`, {
      timeout: 60_000,
    }, async (t) => {
      t.diagnostic(rig.how);
      rig.fail(kind);
      try {
        // The failure shows at the writer's next flush: this result's frames need space.
        const first = await eventually(
          async () => {
            try {
              await client.query(BIG);
              return undefined;
            } catch (e) {
              return e as { code?: string; message?: string };
            }
          },
          20_000,
          'the gateway to refuse statements',
        );
        // Either refused at once, or (the statement ran before the failure showed) its result was
        // not delivered because it could not be recorded, which ends that session.
        assert.equal(first.code, '58030', first.message);
        assert.match(first.message ?? '', /cannot record|could not record the result/);
        if (/could not record the result/.test(first.message ?? '')) {
          await client.end().catch(() => {});
          client = await connect();
        }
        await assert.rejects(client.query(`INSERT INTO disk_log VALUES ('${k} during simple')`), refused);
        await assert.rejects(
          client.query('INSERT INTO disk_log VALUES ($1)', [`${k} during extended`]),
          refused,
        );
        // A session that starts during the failure is refused the same way.
        const late = new pg.Client({
          host: '127.0.0.1',
          port: rig.port,
          user: rig.user,
          password: rig.password,
          database: 'appdb',
          application_name: `${app}-late-${k}`,
        });
        late.on('error', () => {});
        await late.connect();
        await assert.rejects(late.query(`INSERT INTO disk_log VALUES ('${k} during late')`), refused);
        await late.end();
        assert.deepEqual(await directRows(), [...inserted].sort(), 'no refused statement ran');
      } finally {
        rig.heal(kind);
      }
      // The writer retries every second.
      await eventually(
        async () => {
          try {
            await client.query('SELECT 1');
            return true;
          } catch (e) {
            refused(e as { code?: string });
            return undefined;
          }
        },
        20_000,
        'statements to work again',
      );
      const v = `${k} after ${kind}`;
      await client.query('INSERT INTO disk_log VALUES ($1)', [v]);
      inserted.push(v);
      assert.equal((await client.query(BIG)).rows.length, 32);
      assert.deepEqual(await directRows(), [...inserted].sort());
    });
  }

  test('after the faults: the store verifies, frames have no gaps, every refusal is recorded as 58030', {
    timeout: 60_000,
  }, async () => {
    await client.end();
    const stopped = await rig.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, /recording failed, refusing new statements/);
    assert.match(stopped.stderr, /recording works again/);
    assert.ok(!stopped.stderr.includes(rig.password), 'no identity secret in the log');
    assert.ok(!stopped.stderr.includes(db.password), 'no upstream password in the log');

    const v = await cli(['verify', '--store', rig.storePath], dir);
    assert.equal(v.code, 0, `${v.stdout}${v.stderr}`);
    const s = openSqliteStore(rig.storePath, { readonly: true });
    try {
      assert.equal(s.verify().ok, true);
      const sessions = s.listSessions().filter((x) => x.applicationName === app);
      assert.ok(sessions.length > 0, 'the sessions are recorded');
      for (const x of sessions)
        assert.match(
          x.endReason ?? '',
          /client terminated|recording failed before the result could be delivered/,
        );
      const frames = sessions.flatMap((x) => {
        const f = s.readFrames(x.id);
        for (const [i, y] of f.entries()) assert.equal(y.seq, i + 1, 'frame seqs 1..n without gaps');
        return f;
      });
      const statements = sessions.flatMap((x) => s.listStatements(x.id));
      const refusedSql = statements.filter((x) => x.errorCode === '58030').map((x) => x.params?.[0] ?? x.sql);
      for (const [k] of kinds.entries()) {
        assert.ok(
          refusedSql.includes(`INSERT INTO disk_log VALUES ('${k} during simple')`),
          refusedSql.join('\n'),
        );
        assert.ok(refusedSql.includes(`${k} during extended`), refusedSql.join('\n'));
      }
      for (const x of statements.filter((y) => y.errorCode === '58030')) assert.equal(x.decision, 'block');
      // Every 58030 the client got is in the recorded frames.
      const sent58030 = frames.filter(
        (f) =>
          f.dir === 'server' &&
          f.type === 0x45 &&
          errorFields(f.body).C === '58030' &&
          // not the FATAL that ended a session whose result could not be recorded
          errorFields(f.body).S !== 'FATAL',
      );
      assert.equal(sent58030.length, statements.filter((x) => x.errorCode === '58030').length);
      const ok = statements.filter((x) => x.errorCode === null).map((x) => x.params?.[0] ?? x.sql);
      for (const v of inserted.slice(1)) assert.ok(ok.includes(v), `${v} recorded`);
    } finally {
      s.close();
    }
  });
});
