// Compacting a gateway's spool after shipping: shipped, closed, old-enough sessions leave the spool
// (a real gateway recording meanwhile), unshipped ones stay, the spool and the shared store both
// verify, shipping goes on, and a shipper restarted on the compacted spool still recognizes it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { Logger } from '../../proxy/session/session.js';
import { PgSessionStore } from '../../proxy/store/pg/pg-store.js';
import { type ShipperOptions, StoreShipper } from '../../proxy/store/pg/shipper.js';
import { SpoolReader } from '../../proxy/store/pg/spool.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { storeTarget, until } from './fleet.js';

let store: TestPostgres;
let gw: TestGateway;

function logger(lines: string[]): Logger {
  return {
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

async function admin(sql: string): Promise<void> {
  const c = new pg.Client(store.url);
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** One session through the gateway (a real client); returns its id as the spool has it. */
async function session(word: string): Promise<string> {
  const t = gw.target();
  const c = new pg.Client({
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database: t.database,
    application_name: `compact-${word}`,
  });
  await c.connect();
  await c.query(`SELECT '${word}' AS word, repeat('x', 2000) AS filler`);
  await c.end();
  return until(() => {
    const s = gw.readStore();
    try {
      const found = s.listSessions().find((x) => x.applicationName === `compact-${word}`);
      return found?.endedAt != null ? found.id : undefined;
    } finally {
      s.close();
    }
  }, `session ${word} closed in the spool`);
}

function spoolSessions(): string[] {
  const s = gw.readStore();
  try {
    return s.listSessions().map((x) => x.applicationName ?? '');
  } finally {
    s.close();
  }
}

function spoolVerify() {
  const s = gw.readStore();
  try {
    return s.verify();
  } finally {
    s.close();
  }
}

before(async () => {
  store = await startPostgres({ version: 18 });
  gw = await startGateway(store);
});

after(async () => {
  await gw?.stop();
  await store?.stop();
});

test('shipped old sessions leave the spool, unshipped ones stay; both chains verify and shipping goes on', async () => {
  const lines: string[] = [];
  const options: ShipperOptions = {
    spoolPath: gw.storePath,
    target: storeTarget(store),
    gateway: 'gw-spool',
    log: logger(lines),
    spoolKeepMs: 1,
    rejectedRetryMs: 200,
  };
  const shipper: StoreShipper = new StoreShipper(options);
  shipper.start();
  let restarted: StoreShipper | null = null;
  try {
    const one = await session('compactone');
    gw.flush();
    await shipper.drained();
    // Hold the next session back in the spool: the store refuses its first record (the session's
    // open) for now, so the store's head stays at the end of the first session.
    await admin(`
      CREATE FUNCTION public.refuse_holdback() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.application_name LIKE '%holdback%' THEN RAISE EXCEPTION 'session refused for the test'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER refuse_holdback BEFORE INSERT ON bastion.sessions
        FOR EACH ROW EXECUTE FUNCTION public.refuse_holdback();`);
    const two = await session('holdback');
    gw.flush();
    await until(() => (shipper.state === 'rejected' ? true : undefined), 'the store refusing the batch');
    assert.equal(shipper.status().rejected?.sqlstate, 'P0001');
    const shippedBefore = shipper.shippedId;

    const m = await shipper.maintain();
    assert.equal(m.compaction?.sessions, 1, JSON.stringify(m));
    assert.ok((m.compaction?.records ?? 0) >= 5);
    assert.deepEqual(spoolSessions(), ['compact-holdback']);
    const v = spoolVerify();
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.equal(shipper.shippedId, shippedBefore, 'nothing was shipped meanwhile');
    assert.ok(
      lines.some((l) => /spool of gateway "gw-spool" compacted: 1 shipped sessions/.test(l)),
      lines.join('\n'),
    );

    // The record at the store's head went with the session; its digest is still known to the spool.
    const reader = new SpoolReader(gw.storePath);
    try {
      const c = new pg.Client(store.url);
      await c.connect();
      const head = (
        await c.query("SELECT head_id, head_digest FROM bastion.gateways WHERE name = 'gw-spool'")
      ).rows[0];
      await c.end();
      assert.equal(Number(head.head_id), shippedBefore);
      assert.equal(
        reader.read(shippedBefore - 1, 1, 1)[0]?.id === shippedBefore,
        false,
        'the head record was compacted',
      );
      assert.deepEqual(reader.digestOf(shippedBefore), head.head_digest);
    } finally {
      reader.close();
    }

    // A shipper started again on the compacted spool (whose record at the store's head is gone)
    // still recognizes it as this gateway's chain, and resumes where the store is.
    await shipper.stop();
    restarted = new StoreShipper(options);
    restarted.start();
    await until(() => (restarted!.state === 'rejected' ? true : undefined), 'the restarted shipper resuming');
    assert.equal(restarted.status().rejected?.firstId, shippedBefore + 1);
    assert.ok(!lines.some((l) => /not this gateway's spool|another chain/.test(l)), lines.join('\n'));

    // The obstacle goes: the held-back session ships, and the shared store still has both.
    await admin('DROP TRIGGER refuse_holdback ON bastion.sessions');
    await restarted.drained();
    const shared = new PgSessionStore(storeTarget(store));
    try {
      assert.deepEqual(
        shared.verifyGateways().map((g) => [g.gateway, g.ok, g.firstBad?.reason]),
        [['gw-spool', true, undefined]],
      );
      assert.equal(shared.searchSessions({ text: 'compactone' }).sessions[0]?.id, one);
      assert.equal(shared.searchSessions({ text: 'holdback' }).sessions[0]?.id, two);
      assert.ok(shared.readFrames(one).length > 0, 'frames of the compacted session are in the shared store');
    } finally {
      shared.close();
    }

    // Recording and shipping go on; the next compaction takes the session shipped since (the
    // spool's last record stays).
    await session('compactthree');
    gw.flush();
    await restarted.drained();
    const next = await restarted.maintain();
    assert.ok((next.compaction?.sessions ?? 0) >= 1, JSON.stringify(next));
    assert.ok(!spoolSessions().includes('compact-holdback'));
    assert.equal(spoolVerify().ok, true, JSON.stringify(spoolVerify()));
    await session('compactfour');
    gw.flush();
    await restarted.drained();
    assert.equal(spoolVerify().ok, true);
    const last = new PgSessionStore(storeTarget(store));
    try {
      assert.ok(last.verifyGateways().every((g) => g.ok));
      assert.equal(last.searchSessions({ text: 'compactfour' }).total, 1);
      assert.equal(last.listSessions().length, 4);
    } finally {
      last.close();
    }
  } finally {
    await shipper.stop();
    await restarted?.stop();
  }
});
