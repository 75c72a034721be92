// Team mode end to end: three gateways (real AppCores, real sockets) in front of one audited
// PostgreSQL, all shipping to one shared PostgreSQL store (another real server), read back through
// PgSessionStore and the real `bastion` CLI.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { CoreService } from '../../proxy/api/service.js';
import { openStore } from '../../proxy/store/open.js';
import { PgSessionStore } from '../../proxy/store/pg/pg-store.js';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import { bastion, lines } from '../helpers/cli.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { AGENT, shipAll, startTeamGateway, storeTarget, storeUrl, type TeamGateway, until } from './fleet.js';

let db: TestPostgres;
let store: TestPostgres;
let fleet: TeamGateway[] = [];

/** The shared store's URL with the password in PGPASSWORD, as an operator would pass it. */
const cliStore = () => ({
  url: storeUrl(store, store.user),
  env: { PGPASSWORD: store.password },
});

before(async () => {
  [db, store] = await Promise.all([startPostgres({ version: 18 }), startPostgres({ version: 18 })]);
  const admin = new pg.Client(db.url);
  await admin.connect();
  await admin.query('CREATE TABLE jobs (id int PRIMARY KEY, state text)');
  await admin.query("INSERT INTO jobs SELECT g, 'queued' FROM generate_series(1, 10) g");
  await admin.end();
  fleet = await Promise.all(['gw-a', 'gw-b', 'gw-c'].map((n) => startTeamGateway(n, db, store)));
});

after(async () => {
  await Promise.all(fleet.map((g) => g.stop()));
  await Promise.all([db?.stop(), store?.stop()]);
});

function localSessions(g: TeamGateway) {
  g.core.writer.flush();
  const s = openSqliteStore(g.spool, { readonly: true });
  try {
    return s.listSessions().map((x) => ({ ...x, statementsList: s.listStatements(x.id) }));
  } finally {
    s.close();
  }
}

describe('three gateways, one shared store', () => {
  test('sessions from every gateway appear in one search, with their statements and frames', async () => {
    for (const g of fleet) {
      const c = g.client(`team-search-${g.name}`);
      await c.connect();
      await c.query(`SELECT 'fleetprobe' AS word, '${g.name}' AS gateway`);
      await c.end();
    }
    await shipAll(fleet);
    const shared = openStore(cliStore().url.replace('@', `:${encodeURIComponent(store.password)}@`));
    try {
      const found = shared.searchSessions({ text: 'fleetprobe' });
      assert.equal(found.total, 3);
      const expected = fleet.flatMap((g) =>
        localSessions(g)
          .filter((s) => s.applicationName === `team-search-${g.name}`)
          .map((s) => s.id),
      );
      assert.equal(expected.length, 3);
      assert.deepEqual(found.sessions.map((s) => s.id).sort(), expected.sort());
      for (const hit of found.sessions) {
        assert.match(hit.match?.sql ?? '', /fleetprobe/);
        // Replay reads the same frames the gateway recorded.
        const owner = fleet.find((g) => hit.applicationName === `team-search-${g.name}`)!;
        const local = openSqliteStore(owner.spool, { readonly: true });
        try {
          assert.deepEqual(
            shared.readFrames(hit.id).map((f) => [f.seq, f.dir, f.type, f.body.toString('hex')]),
            local.readFrames(hit.id).map((f) => [f.seq, f.dir, f.type, f.body.toString('hex')]),
          );
          assert.deepEqual(shared.listStatements(hit.id), local.listStatements(hit.id));
        } finally {
          local.close();
        }
      }
      // Prefix search as the UI types it, and a word nobody said.
      assert.equal(shared.searchSessions({ text: 'fleetpro' }).total, 3);
      assert.equal(shared.searchSessions({ text: 'fleetprobe nosuchword' }).total, 0);
    } finally {
      shared.close();
    }
    const { url, env } = cliStore();
    const list = await bastion(['sessions', 'list', '--store', url, '--json'], { env });
    assert.equal(list.code, 0, list.stderr);
    const ids = (JSON.parse(list.stdout) as { applicationName: string }[]).map((s) => s.applicationName);
    for (const g of fleet)
      assert.ok(ids.includes(`team-search-${g.name}`), `${g.name} missing from sessions list`);
    const verify = await bastion(['verify', '--store', url], { env });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.deepEqual(
      lines(verify.stdout).map((l) => l.replace(/: \d+ records.*/, '')),
      ['ok: gateway "gw-a"', 'ok: gateway "gw-b"', 'ok: gateway "gw-c"'],
    );
    assert.ok(!verify.stdout.includes(store.password) && !verify.stderr.includes(store.password));
  });

  test("one gateway's API (what the app shows) searches, replays and reports every gateway's sessions", async () => {
    for (const g of fleet) {
      const c = g.client(`team-api-${g.name}`);
      await c.connect();
      await c.query(`SELECT 'apiprobe' AS word, '${g.name}' AS gateway`);
      await c.end();
    }
    await shipAll(fleet);
    const b = fleet.find((g) => g.name === 'gw-b')!;
    const service = new CoreService(b.core, { persistence: null });
    try {
      const found = await service.searchSessions({ text: 'apiprobe' });
      assert.deepEqual(
        found.sessions.map((x) => x.applicationName).sort(),
        ['team-api-gw-a', 'team-api-gw-b', 'team-api-gw-c'],
        `the sessions of gw-a and gw-c too (${b.logs.filter((l) => l.startsWith('warn')).join('; ')})`,
      );
      const fromA = found.sessions.find((x) => x.applicationName === 'team-api-gw-a')!;
      const statements = await service.listStatements(fromA.id);
      assert.ok(statements.some((st) => st.sql.includes('apiprobe')));
      const replay = await service.openReplay(fromA.id);
      assert.ok(replay && replay.frames > 0, "gw-a's session replays through gw-b");
      const report = await service.exportReport({ format: 'json' });
      const text = Buffer.from(report.base64, 'base64').toString('utf8');
      for (const g of fleet) assert.ok(text.includes(`team-api-${g.name}`), `${g.name} in the fleet report`);
      // The app's Store screen: the fleet, and how this gateway's shipping goes (drained: 0 behind).
      const source = await service.storeSource();
      assert.equal(source.kind, 'team');
      assert.deepEqual([...source.gateways].sort(), ['gw-a', 'gw-b', 'gw-c']);
      assert.equal(source.shipping?.state, 'shipping');
      assert.equal(source.shipping?.rejected, null);
    } finally {
      service.dispose();
    }
  });

  test("one gateway's live inspector shows the statements the others relay, as the store receives them", async () => {
    const b = fleet.find((g) => g.name === 'gw-b')!;
    const service = new CoreService(b.core, { persistence: null });
    const seen: { event: string; sql?: string; identity?: string; app?: string | null }[] = [];
    const stop = service.subscribe((e) => {
      if (e.event === 'statement') seen.push({ event: e.event, sql: e.data.sql, identity: e.data.identity });
      else if (e.event === 'session-opened' || e.event === 'session-closed')
        seen.push({ event: e.event, app: e.data.applicationName });
    });
    try {
      for (const name of ['gw-a', 'gw-c']) {
        const g = fleet.find((x) => x.name === name)!;
        const c = g.client(`team-live-${name}`);
        await c.connect();
        await c.query(`SELECT 'liveprobe' AS word, '${name}' AS gateway`);
        await c.end();
      }
      await until(
        () => (seen.filter((x) => x.sql?.includes('liveprobe')).length >= 2 ? true : undefined),
        'the live statements of gw-a and gw-c on gw-b',
      );
      const probes = seen.filter((x) => x.sql?.includes('liveprobe'));
      assert.deepEqual(
        probes.map((x) => x.sql?.match(/'(gw-.)'/)?.[1]).sort(),
        ['gw-a', 'gw-c'],
        'each once, none from gw-b itself',
      );
      for (const p of probes) assert.equal(p.identity, AGENT.name);
      await until(
        () =>
          seen.filter((x) => x.event === 'session-closed' && x.app?.startsWith('team-live-')).length >= 2
            ? true
            : undefined,
        'their sessions closing',
      );
      assert.ok(seen.some((x) => x.event === 'session-opened' && x.app === 'team-live-gw-a'));
      const recent = await service.recentStatements(50);
      assert.ok(
        recent.some((x) => x.sql.includes("'gw-c'")),
        "kept for the inspector's first page",
      );
    } finally {
      stop();
      service.dispose();
    }
  });

  test("a statement held on one gateway is approved through another gateway's API", async () => {
    const [a, b] = fleet;
    const service = new CoreService(b.core, { persistence: null });
    const c = a.client('team-held');
    await c.connect();
    try {
      const held = c.query('DELETE FROM jobs');
      const pending = await until(
        () => a.core.approvals.list('pending').find((x) => x.sql === 'DELETE FROM jobs'),
        'the statement to be held on gw-a',
      );
      assert.equal(b.core.approvals.list('pending').length, 0, 'gw-b holds nothing itself');
      // Once shipped, the approval is in the shared store, where gw-b's API finds it.
      const shared = new PgSessionStore(storeTarget(store));
      try {
        await until(() => shared.getApproval(pending.id), 'the approval to reach the shared store');
      } finally {
        shared.close();
      }
      await assert.rejects(service.decideApproval(pending.id, 'approve', 'agent'), /cannot approve its own/);
      const decided = await service.decideApproval(pending.id, 'approve', 'alice');
      assert.equal(decided.state, 'approved');
      assert.equal(decided.decidedBy, 'alice');
      const r = await held;
      assert.equal(r.rowCount, 10);
      // gw-a recorded the decision in its own chain, and it shipped back.
      const outcome = a.core.approvals.list().find((x) => x.id === pending.id);
      assert.equal(outcome?.state, 'approved');
      assert.equal(outcome?.decidedBy, 'alice');
      await shipAll(fleet);
      const after = new PgSessionStore(storeTarget(store));
      try {
        const row = after.getApproval(pending.id);
        assert.equal(row?.state, 'approved');
        assert.equal(row?.decidedBy, 'alice');
      } finally {
        after.close();
      }
      await assert.rejects(service.decideApproval(pending.id, 'deny', 'bob'), /already/);
    } finally {
      service.dispose();
      await c.end();
    }
  });

  test('the CLI lists and decides held statements in the shared store, whichever gateway holds them', async () => {
    const c = fleet[2].client('team-cli-held');
    await c.connect();
    try {
      const held = c.query("UPDATE jobs SET state = 'done'").then(
        (r) => r,
        (e: Error) => e,
      );
      const { url, env } = cliStore();
      const listed = await until(async () => {
        const r = await bastion(['approvals', 'list', '--store', url, '--json'], { env });
        assert.equal(r.code, 0, r.stderr);
        return (JSON.parse(r.stdout) as { id: string; sql: string }[]).find((a) =>
          a.sql.startsWith('UPDATE jobs'),
        );
      }, 'the held statement in `approvals list`');
      const denied = await bastion(['approvals', 'deny', listed.id, '--store', url, '--as', 'carol'], {
        env,
      });
      assert.equal(denied.code, 0, denied.stderr);
      assert.equal(denied.stdout.trim(), `${listed.id} denied by carol`);
      const r = await held;
      assert.ok(r instanceof Error, 'the denied statement ran');
      assert.equal(fleet[2].core.approvals.list().find((a) => a.id === listed.id)?.decidedBy, 'carol');
      const again = await bastion(['approvals', 'approve', listed.id, '--store', url], { env });
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already/);
    } finally {
      await c.end();
    }
  });

  test('the shared store restarted mid-load loses nothing, and every chain verifies', async () => {
    const stopAt = { done: false };
    const counts = new Map<string, number>();
    const load = fleet.map(async (g) => {
      const c = g.client(`team-load-${g.name}`);
      await c.connect();
      let n = 0;
      while (!stopAt.done) {
        await c.query('SELECT $1::int AS n, repeat($2, 200) AS pad', [n, 'x']);
        n++;
      }
      await c.end();
      counts.set(g.name, n);
    });
    await new Promise((r) => setTimeout(r, 400));
    await store.restart();
    // Recording went on while the store was down: the spools hold it.
    await new Promise((r) => setTimeout(r, 400));
    stopAt.done = true;
    await Promise.all(load);
    await shipAll(fleet);
    const shared = new PgSessionStore(storeTarget(store));
    try {
      for (const g of fleet) {
        const [local] = localSessions(g).filter((s) => s.applicationName === `team-load-${g.name}`);
        assert.equal(local.statements, counts.get(g.name));
        const remote = shared.getSession(local.id);
        assert.equal(remote?.statements, counts.get(g.name), `${g.name}: statements in the shared store`);
        assert.equal(remote?.endedAt, local.endedAt);
        assert.equal(
          shared.frameCount(local.id),
          (() => {
            const s = openSqliteStore(g.spool, { readonly: true });
            try {
              return s.frameCount(local.id);
            } finally {
              s.close();
            }
          })(),
        );
      }
      const results = shared.verifyGateways();
      assert.deepEqual(
        results.map((r) => [r.gateway, r.ok]),
        [
          ['gw-a', true],
          ['gw-b', true],
          ['gw-c', true],
        ],
      );
    } finally {
      shared.close();
    }
    assert.ok(
      fleet.some((g) => g.logs.some((l) => l.includes('keeps recording to its spool'))),
      'a shipper saw the store go away',
    );
    for (const g of fleet)
      assert.ok(!g.logs.join('\n').includes(store.password), 'a log holds the store password');
  });

  test('verify names the gateway and the first bad record of a tampered chain', async () => {
    await shipAll(fleet);
    const admin = new pg.Client(store.url);
    await admin.connect();
    try {
      const { rows } = await admin.query(
        "SELECT min(id) AS id FROM bastion.records WHERE gateway = 'gw-b' AND kind = 'statement'",
      );
      // One byte added to a statement's body: the record no longer matches its digest.
      await admin.query(
        "UPDATE bastion.records SET body = body || '\\x20'::bytea WHERE gateway = 'gw-b' AND id = $1",
        [rows[0].id],
      );
      const { url, env } = cliStore();
      const r = await bastion(['verify', '--store', url], { env });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`FAILED: gateway "gw-b": record ${rows[0].id}: digest mismatch`));
      assert.match(r.stdout, /ok: gateway "gw-a"/);
    } finally {
      await admin.end();
    }
  });
});
