// Retention by month in the shared store: partitions are made ahead and on demand, a month is
// dropped whole (kept while a session in it is open), and every gateway's chain still verifies
// across the dropped range, with search, replay and shipping going on. A store made by schema
// version 1 (unpartitioned) still opens and keeps working.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Logger } from '../../proxy/session/session.js';
import { monthOf, monthSuffix } from '../../proxy/store/pg/partitions.js';
import { PgSessionStore } from '../../proxy/store/pg/pg-store.js';
import { PG_SCHEMA_V1 } from '../../proxy/store/pg/schema.js';
import { StoreShipper } from '../../proxy/store/pg/shipper.js';
import { openSqliteStore, type SqliteSessionStore } from '../../proxy/store/sqlite-store.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { chunk, frame, session, statement, tempStorePath } from '../store/fixtures.js';
import { startTeamGateway, storeTarget, type TeamGateway } from './fleet.js';

const DAY_US = 86_400_000_000;
const nowUs = Date.now() * 1000;
/** A day early in the month about 300 days ago: well past a 120-day retention. */
const OLD_US =
  Date.UTC(
    new Date(nowUs / 1000 - 300 * 86_400_000).getUTCFullYear(),
    new Date(nowUs / 1000 - 300 * 86_400_000).getUTCMonth(),
    3,
  ) * 1000;
const OLD_MONTH = monthSuffix(monthOf(OLD_US));
const RETENTION_MS = 120 * 86_400_000;

const A = 'a0000000-0000-4000-8000-00000000000a';
const B = 'b0000000-0000-4000-8000-00000000000b';
const C = 'c0000000-0000-4000-8000-00000000000c';
const D = 'd0000000-0000-4000-8000-00000000000d';
const E = 'e0000000-0000-4000-8000-00000000000e';

let store: TestPostgres;
let live: TeamGateway;

function logger(lines: string[]): Logger {
  return {
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

/** One whole session as the recorder writes it: open, frames, a statement, close. */
function sessionEntries(id: string, startedAt: number, sql: string, endedAt: number | null) {
  const entries: Parameters<SqliteSessionStore['append']>[0][number][] = [
    { kind: 'session_open', session: session(id, { startedAt }) },
    chunk(id, 0, 'client', 0, [frame(0x51, `${sql}\0`)]),
    chunk(id, 1, 'server', 10, [frame(0x43, 'SELECT 1\0')]),
    {
      kind: 'statement',
      statement: statement(id, 1, { sql, startedAt: startedAt + 5, firstFrame: 0, lastFrame: 1 }),
    },
  ];
  if (endedAt !== null)
    entries.push({ kind: 'session_close', sessionId: id, endedAt, endReason: 'client terminated' });
  return entries;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>, database = store.database): Promise<T> {
  const c = new pg.Client({
    host: store.host,
    port: store.port,
    user: store.user,
    password: store.password,
    database,
  });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function partitions(): Promise<string[]> {
  return admin(async (c) =>
    (
      await c.query(
        `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'bastion.records'::regclass ORDER BY 1`,
      )
    ).rows.map((r) => r.relname as string),
  );
}

before(async () => {
  store = await startPostgres({ version: 18 });
  await admin((c) => c.query('CREATE TABLE jobs (id int PRIMARY KEY, state text)'));
  // A real gateway (its own spool and shipper) beside the synthetic one below: its chain must not
  // be touched by the drop of a month it has nothing in.
  live = await startTeamGateway('gw-live', store, store);
});

after(async () => {
  await live?.stop();
  await store?.stop();
});

describe('months in the shared store', () => {
  test('partitions are made ahead and on demand; an old month is dropped and every chain still verifies', async () => {
    const spoolPath = tempStorePath('spool.db');
    const spool = openSqliteStore(spoolPath);
    // Chain order interleaves the old sessions; E is a fresh one recorded between them.
    spool.append([...sessionEntries(A, OLD_US, "SELECT 'oldprobe' AS a", OLD_US + 3_600_000_000)]);
    spool.append(sessionEntries(B, OLD_US + DAY_US, "SELECT 'oldprobe' AS b", null));
    spool.append(sessionEntries(E, nowUs - 60_000_000, "SELECT 'newprobe' AS e", nowUs - 30_000_000));
    spool.append([
      { kind: 'session_close', sessionId: B, endedAt: OLD_US + 2 * DAY_US, endReason: 'client terminated' },
    ]);
    spool.append(sessionEntries(D, OLD_US + 3 * DAY_US, "SELECT 'oldprobe' AS d", null));
    // Retention on the gateway itself removes A (its prune record ships: a checkpoint, not a month).
    const pruned = spool.prune(OLD_US + DAY_US / 2);
    assert.equal(pruned.sessions, 1);

    const lines: string[] = [];
    const shipper = new StoreShipper({
      spoolPath,
      target: storeTarget(store),
      gateway: 'gw-old',
      log: logger(lines),
      retentionMs: RETENTION_MS,
      maintenanceMs: 3_600_000,
    });
    shipper.start();
    try {
      await shipper.drained();
      const c = live.client('partition-live');
      await c.connect();
      await c.query("SELECT 'liveprobe' AS word");
      await c.end();
      live.core.writer.flush();
      await live.core.team!.shipper.drained();

      const linkStatus = live.core.team!.status;
      assert.equal(linkStatus.state, 'shipping');
      assert.equal(linkStatus.partitioned, true);
      assert.equal(linkStatus.rejected, null);
      assert.equal(linkStatus.shippedId, linkStatus.spoolHead);
      assert.ok(!JSON.stringify(linkStatus).includes(store.password), 'no password in the status');
      const months = await partitions();
      const current = monthOf(nowUs);
      for (const m of [monthOf(OLD_US), current, current + 1, current + 2]) {
        assert.ok(
          months.includes(`records_p${monthSuffix(m)}`),
          `no partition for ${monthSuffix(m)}: ${months}`,
        );
      }
      const rowsIn = await admin(async (c) =>
        Number((await c.query(`SELECT count(*) AS n FROM bastion.records_p${OLD_MONTH}`)).rows[0].n),
      );
      assert.ok(rowsIn > 0, 'the old sessions are in their month');

      // D is still open: its month is kept (and nothing is cut).
      const kept = await shipper.maintain();
      assert.deepEqual(kept.retention?.dropped, []);
      assert.match(kept.retention?.kept ?? '', new RegExp(`month ${OLD_MONTH} is kept: session ${D}`));
      assert.ok((await partitions()).includes(`records_p${OLD_MONTH}`));

      spool.append([
        { kind: 'session_close', sessionId: D, endedAt: OLD_US + 4 * DAY_US, endReason: 'client terminated' },
      ]);
      await shipper.drained();
      const done = await shipper.maintain();
      assert.deepEqual(
        done.retention?.dropped.map((d) => [d.month, d.gateways]),
        [[OLD_MONTH, [{ gateway: 'gw-old', sessions: 2, records: 10 }]]],
      );
      assert.ok(!(await partitions()).includes(`records_p${OLD_MONTH}`));
      assert.ok(
        lines.some((l) => l.startsWith(`info shared store retention: dropped month ${OLD_MONTH}`)),
        lines.join('\n'),
      );

      const shared = new PgSessionStore(storeTarget(store));
      try {
        const byGateway = shared.verifyGateways();
        assert.deepEqual(
          byGateway.map((g) => [g.gateway, g.ok, g.firstBad?.reason]),
          [
            ['gw-live', true, undefined],
            ['gw-old', true, undefined],
          ],
        );
        assert.equal(shared.searchSessions({ text: 'oldprobe' }).total, 0);
        assert.equal(shared.getSession(B), undefined);
        assert.deepEqual(
          shared.searchSessions({ text: 'newprobe' }).sessions.map((s) => s.id),
          [E],
        );
        assert.equal(shared.searchSessions({ text: 'liveprobe' }).total, 1);
        assert.equal(shared.readFrames(E).length, 2);
        // E's first record follows a dropped one: its link comes from the cut.
        assert.ok([...shared.sessionRecords(E)].length > 0);
      } finally {
        shared.close();
      }

      // Shipping goes on: a new session lands in this month; an old one recreates its month.
      spool.append(sessionEntries(C, nowUs, "SELECT 'afterdrop' AS c", nowUs + 1000));
      spool.append(
        sessionEntries(
          'f0000000-0000-4000-8000-00000000000f',
          OLD_US + DAY_US,
          "SELECT 'latecomer'",
          OLD_US + DAY_US + 5,
        ),
      );
      await shipper.drained();
      assert.ok(
        (await partitions()).includes(`records_p${OLD_MONTH}`),
        'a late old session makes its month again',
      );
      const again = new PgSessionStore(storeTarget(store));
      try {
        assert.ok(again.verifyGateways().every((g) => g.ok));
        assert.equal(again.searchSessions({ text: 'afterdrop' }).total, 1);
        assert.equal(again.searchSessions({ text: 'latecomer' }).total, 1);
      } finally {
        again.close();
      }
      // And that month goes again, bridged by a second cut.
      const second = await shipper.maintain();
      assert.equal(second.retention?.dropped.length, 1);
      const last = new PgSessionStore(storeTarget(store));
      try {
        assert.ok(
          last.verifyGateways().every((g) => g.ok),
          JSON.stringify(last.verifyGateways()),
        );
        assert.equal(last.searchSessions({ text: 'latecomer' }).total, 0);
      } finally {
        last.close();
      }
      assert.ok(spool.verify().ok);
      // The cuts are what bridges the gaps: without them the chain is broken where the month was.
      await admin((c) => c.query("DELETE FROM bastion.cuts WHERE gateway = 'gw-old'"));
      const tampered = new PgSessionStore(storeTarget(store));
      try {
        const old = tampered.verifyGateways().find((g) => g.gateway === 'gw-old')!;
        assert.equal(old.ok, false);
        assert.match(old.firstBad?.reason ?? '', /missing/);
      } finally {
        tampered.close();
      }
    } finally {
      await shipper.stop();
      spool.close();
    }
  });

  test('a store made unpartitioned by schema version 1 still opens, ships and verifies; retention says why it drops nothing', async () => {
    await admin((c) => c.query('CREATE DATABASE legacy'));
    await admin(async (c) => {
      await c.query('CREATE SCHEMA bastion');
      await c.query(PG_SCHEMA_V1);
      await c.query("INSERT INTO bastion.meta (key, value) VALUES ('schema_version', '1')");
    }, 'legacy');
    const spoolPath = tempStorePath('legacy-spool.db');
    const spool = openSqliteStore(spoolPath);
    spool.append(sessionEntries(A, OLD_US, "SELECT 'legacyprobe'", OLD_US + 10));
    spool.append(sessionEntries(B, nowUs, "SELECT 'legacyprobe' AS now", nowUs + 10));
    const lines: string[] = [];
    const shipper = new StoreShipper({
      spoolPath,
      target: { ...storeTarget(store), database: 'legacy' },
      gateway: 'gw-legacy',
      log: logger(lines),
      retentionMs: RETENTION_MS,
    });
    shipper.start();
    try {
      await shipper.drained();
      assert.ok(
        lines.some((l) => /made unpartitioned by an older Bastion/.test(l)),
        lines.join('\n'),
      );
      assert.equal(shipper.status().partitioned, false);
      const outcome = await shipper.maintain();
      assert.deepEqual(outcome.retention?.dropped, []);
      assert.match(outcome.retention?.kept ?? '', /not partitioned/);
      const version = await admin(
        async (c) =>
          (await c.query("SELECT value FROM bastion.meta WHERE key = 'schema_version'")).rows[0].value,
        'legacy',
      );
      assert.equal(version, '2');
      const shared = new PgSessionStore({ ...storeTarget(store), database: 'legacy' });
      try {
        assert.deepEqual(
          shared.verifyGateways().map((g) => [g.gateway, g.ok, g.records]),
          [['gw-legacy', true, 10]],
        );
        assert.equal(shared.searchSessions({ text: 'legacyprobe' }).total, 2);
      } finally {
        shared.close();
      }
    } finally {
      await shipper.stop();
      spool.close();
    }
  });

  test('a gateway role kept from DDL (the grants in docs/TEAM.md) ships, and makes a missing month through ensure_months', async () => {
    await admin(async (c) => {
      await c.query("CREATE ROLE bastion_gateway LOGIN PASSWORD 'gw-role-secret'");
      await c.query('GRANT USAGE ON SCHEMA bastion TO bastion_gateway');
      await c.query(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA bastion TO bastion_gateway',
      );
      await c.query('GRANT USAGE ON ALL SEQUENCES IN SCHEMA bastion TO bastion_gateway');
      await c.query('GRANT EXECUTE ON FUNCTION bastion.ensure_months(integer[]) TO bastion_gateway');
    });
    const month = monthOf(OLD_US) - 1;
    assert.ok(!(await partitions()).includes(`records_p${monthSuffix(month)}`));
    const spoolPath = tempStorePath('ddl-less-spool.db');
    const spool = openSqliteStore(spoolPath);
    const startedAt = OLD_US - 5 * DAY_US; // the month before the old one: no partition yet
    assert.equal(monthOf(startedAt), month);
    spool.append(sessionEntries(A, startedAt, "SELECT 'ddlless'", startedAt + 10));
    const lines: string[] = [];
    const shipper = new StoreShipper({
      spoolPath,
      target: { ...storeTarget(store), user: 'bastion_gateway', password: 'gw-role-secret' },
      gateway: 'gw-ddl-less',
      log: logger(lines),
    });
    shipper.start();
    try {
      await shipper.drained();
      assert.ok((await partitions()).includes(`records_p${monthSuffix(month)}`));
      assert.ok(!lines.some((l) => /cannot make/.test(l)), lines.join('\n'));
    } finally {
      await shipper.stop();
      spool.close();
    }
    const shared = new PgSessionStore(storeTarget(store));
    try {
      assert.equal(shared.verifyGateways().find((g) => g.gateway === 'gw-ddl-less')?.ok, true);
      assert.equal(shared.searchSessions({ text: 'ddlless' }).total, 1);
    } finally {
      shared.close();
    }
  });
});
