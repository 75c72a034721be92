// The app opens a shared store (issue 11, team mode): an operator's app with no team config of
// its own (a real AppCore on a local store) opens a real PostgreSQL audit store that two real
// team-mode gateways ship into, with its own role and password, through the API the renderer
// calls. Its reading calls then show the fleet's sessions; as reader it may not decide, as
// approver it releases a client held on another gateway; bad input gets a clear error; and the
// password never comes back in any answer, event or log line.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { emptyAppConfig } from '../../proxy/api/app-config.js';
import { CoreService } from '../../proxy/api/service.js';
import { AppCore } from '../../proxy/core.js';
import type { Logger } from '../../proxy/session/session.js';
import type { BastionEvent, SharedStoreInput } from '../../shared/api.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { shipStorepick, startTeamGateway, storeUrl, type TeamGateway, until } from '../team/fleet.js';

const AUDITOR = { name: 'auditor', password: 'Auditor-Store-pw-7319' };
const APPROVER = { name: 'alice', password: 'Alice-Store-pw-5521' };
const WRONG = 'Not-The-Password-0042';

let db: TestPostgres;
let store: TestPostgres;
let fleet: TeamGateway[] = [];
let dir: string;
let app: AppCore;
let service: CoreService;
const logs: string[] = [];
/** Everything the API handed back or emitted, as the transports would carry it. */
const seen: string[] = [];
const events: BastionEvent[] = [];

const log: Logger = {
  info: (m) => logs.push(m),
  warn: (m) => logs.push(m),
  error: (m) => logs.push(m),
};

/** Calls through the service as a host does, keeping what comes back (and any error's message). */
async function call<T>(p: Promise<T>): Promise<T> {
  try {
    const r = await p;
    seen.push(JSON.stringify(r ?? null));
    return r;
  } catch (e) {
    seen.push((e as Error).message);
    throw e;
  }
}

const sharedUrl = (user: string, extra = '') => storeUrl(store, user) + extra;

const open = (input: SharedStoreInput) => call(service.openSharedStore(input));

before(async () => {
  [db, store] = await Promise.all([startPostgres({ version: 18 }), startPostgres({ version: 18 })]);
  const admin = new pg.Client(db.url);
  await admin.connect();
  await admin.query('CREATE TABLE jobs (id int PRIMARY KEY, state text)');
  await admin.query("INSERT INTO jobs SELECT g, 'queued' FROM generate_series(1, 10) g");
  await admin.end();
  fleet = await Promise.all(['gw-east', 'gw-west'].map((n) => startTeamGateway(n, db, store)));
  await shipStorepick(fleet);
  // The roles of TEAM.md "Roles in the shared store", once the first gateway made the schema.
  const owner = new pg.Client(store.url);
  await owner.connect();
  for (const sql of [
    'CREATE ROLE bastion_reader NOLOGIN',
    'GRANT USAGE ON SCHEMA bastion TO bastion_reader',
    'GRANT SELECT ON ALL TABLES IN SCHEMA bastion TO bastion_reader',
    'CREATE ROLE bastion_approver NOLOGIN',
    'GRANT bastion_reader TO bastion_approver',
    'GRANT INSERT ON bastion.decisions TO bastion_approver',
    `CREATE ROLE ${AUDITOR.name} LOGIN PASSWORD '${AUDITOR.password}' IN ROLE bastion_reader`,
    `CREATE ROLE ${APPROVER.name} LOGIN PASSWORD '${APPROVER.password}' IN ROLE bastion_approver`,
  ])
    await owner.query(sql);
  await owner.end();

  // The operator's app: its own local store, no connections, no team config.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-storepick-'));
  app = new AppCore(emptyAppConfig(path.join(dir, 'bastion.app.yaml')), log);
  await app.start({ tolerateListenerErrors: true });
  service = new CoreService(app, { operator: 'ops-lead', log });
  service.subscribe((e) => {
    events.push(e);
    seen.push(JSON.stringify(e));
  });
});

after(async () => {
  service?.dispose();
  await app?.stop();
  await Promise.all(fleet.map((g) => g.stop()));
  await Promise.all([db?.stop(), store?.stop()]);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("the app opens the team's shared store", () => {
  test('before: the app reads its own local store, which has none of the fleet', async () => {
    const src = await call(service.storeSource());
    assert.equal(src.kind, 'local');
    assert.equal(src.role, null);
    assert.equal(src.shipping, null, 'no team mode: nothing ships');
    assert.equal(src.label, 'bastion.db');
    assert.equal((await call(service.searchSessions({ text: 'storepick' }))).total, 0);
  });

  test('bad input is refused with a clear message, and nothing changes', async () => {
    const cases: [SharedStoreInput, RegExp][] = [
      [
        { url: 'mysql://auditor@127.0.0.1/audit', password: 'x', role: 'reader' },
        /must start with postgres:\/\//,
      ],
      [{ url: '/var/lib/bastion.db', password: 'x', role: 'reader' }, /must start with postgres:\/\//],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a ${NAME} reference, as a config has them
      [{ url: sharedUrl('${USER}'), password: 'x', role: 'reader' }, /cannot refer to \$\{NAME\}/],
      [
        { url: `postgres://127.0.0.1:${store.port}/audit`, password: 'x', role: 'reader' },
        /needs a user name/,
      ],
      [
        { url: sharedUrl(AUDITOR.name).replace('disable', 'sometimes'), password: 'x', role: 'reader' },
        /sslmode must be one of/,
      ],
      [
        { url: sharedUrl(AUDITOR.name, '&color=blue'), password: 'x', role: 'reader' },
        /unsupported URL parameter "color"/,
      ],
      [
        { url: sharedUrl(AUDITOR.name), password: 'x', role: 'admin' as 'reader' },
        /role must be reader or approver/,
      ],
      [{ url: sharedUrl(AUDITOR.name), role: 'reader' }, /needs a password/],
    ];
    for (const [input, expected] of cases) {
      await assert.rejects(open(input), expected, JSON.stringify(input));
    }
    assert.equal((await call(service.storeSource())).kind, 'local');
  });

  test("a wrong password, a store that is not Bastion's, and a reader role opened as approver are refused", async () => {
    await assert.rejects(
      open({ url: sharedUrl(AUDITOR.name), password: WRONG, role: 'reader' }),
      (e: Error) => {
        assert.match(e.message, /refused the user name or password \(SQLSTATE 28P01/);
        assert.match(e.message, new RegExp(`postgres://auditor@127\\.0\\.0\\.1:${store.port}/`));
        assert.ok(!e.message.includes(WRONG));
        return true;
      },
    );
    // The audited database itself has no bastion schema.
    await assert.rejects(
      open({
        url: `postgres://${db.user}@127.0.0.1:${db.port}/${db.database}?sslmode=disable`,
        password: db.password,
        role: 'reader',
      }),
      /not a Bastion store/,
    );
    await assert.rejects(
      open({ url: sharedUrl(AUDITOR.name), password: AUDITOR.password, role: 'approver' }),
      /role "auditor" may not record decisions .*open it as reader/,
    );
    assert.equal((await call(service.storeSource())).kind, 'local');
  });

  test("opened as reader, every reading call shows the fleet's sessions", async () => {
    const src = await open({ url: sharedUrl(AUDITOR.name), password: AUDITOR.password, role: 'reader' });
    assert.equal(src.kind, 'shared');
    assert.equal(src.role, 'reader');
    assert.equal(src.decideAs, null);
    assert.equal(src.connected, true, src.error ?? '');
    assert.equal(src.label, `auditor@127.0.0.1:${store.port}/${store.database}`);
    assert.equal(src.store, `postgres://auditor@127.0.0.1:${store.port}/${store.database}?sslmode=disable`);
    assert.deepEqual(src.gateways, ['gw-east', 'gw-west']);
    assert.ok(events.some((e) => e.event === 'store-source-changed' && e.data.kind === 'shared'));

    const found = await call(service.searchSessions({ text: 'storepick' }));
    assert.deepEqual(found.sessions.map((s) => s.applicationName).sort(), [
      'storepick-gw-east',
      'storepick-gw-west',
    ]);
    const west = found.sessions.find((s) => s.applicationName === 'storepick-gw-west')!;
    assert.ok((await call(service.listSessions({ limit: 50 }))).some((s) => s.id === west.id));
    assert.equal((await call(service.getSession(west.id)))?.id, west.id);
    const statements = await call(service.listStatements(west.id));
    assert.ok(statements.some((st) => st.sql.includes("'gw-west'")));
    const replay = await call(service.openReplay(west.id));
    assert.ok(replay && replay.frames > 0 && replay.marks.length > 0);
    assert.ok((await call(service.readFrames(west.id, 0, 100))).some((f) => f.type === 'Query'));
    assert.ok((await call(service.readFrameBytes(west.id, 1))) !== null);
    assert.ok((await call(service.statementsPage(west.id, 0, 10))).length > 0);
    const hits = await call(service.searchStatements('storepick', 10, 0));
    assert.equal(hits.statements.length, 2);
    const verified = await call(service.verifyStore());
    assert.equal(verified.ok, true, verified.firstBad?.reason);
    assert.ok(verified.records > 0);
    const report = await call(service.exportReport({ format: 'json' }));
    const text = Buffer.from(report.base64, 'base64').toString('utf8');
    assert.ok(text.includes('storepick-gw-east') && text.includes('storepick-gw-west'));
    assert.ok(
      text.includes(`postgres://auditor@127.0.0.1:${store.port}`),
      'the report names the store it read',
    );
  });

  test("the live inspector gets the fleet's new statements", async () => {
    const c = fleet[1]!.client('storepick-live');
    await c.connect();
    await c.query("SELECT 'storepicklive' AS word");
    await c.end();
    await until(
      () =>
        events.some((e) => e.event === 'statement' && e.data.sql.includes('storepicklive'))
          ? true
          : undefined,
      'the statement of gw-west on the live feed',
    );
  });

  test('a reader cannot approve; an approver can, and the holding gateway releases the client', async () => {
    const east = fleet[0]!;
    const c = east.client('storepick-held');
    await c.connect();
    try {
      const held = c.query('DELETE FROM jobs').then(
        (r) => r,
        (e: Error) => e,
      );
      const pending = await until(
        () => east.core.approvals.list('pending').find((a) => a.sql === 'DELETE FROM jobs'),
        'the statement held on gw-east',
      );
      // Held on another gateway after the store was opened: the Approvals screen hears of it.
      await until(
        () =>
          events.some(
            (e) => e.event === 'approval-changed' && e.data.id === pending.id && e.data.state === 'pending',
          )
            ? true
            : undefined,
        'an approval-changed event for the statement held on gw-east',
      );
      // Once shipped, the app lists it from the shared store.
      await until(
        async () =>
          (await call(service.listApprovals('pending'))).find((a) => a.id === pending.id) ? true : undefined,
        'the held statement in the app',
      );
      await assert.rejects(
        call(service.decideApproval(pending.id, 'approve', '')),
        /open read-only \(as reader\): open it as approver/,
      );
      assert.equal(east.core.approvals.list('pending').find((a) => a.id === pending.id)?.state, 'pending');

      const src = await open({
        url: sharedUrl(APPROVER.name),
        password: APPROVER.password,
        role: 'approver',
        as: 'alice-ops',
      });
      assert.equal(src.role, 'approver');
      assert.equal(src.decideAs, 'alice-ops');
      assert.equal(src.label, `alice@127.0.0.1:${store.port}/${store.database}`);
      const decided = await call(service.decideApproval(pending.id, 'approve', ''));
      assert.equal(decided.state, 'approved');
      assert.equal(decided.decidedBy, 'alice-ops');
      const r = await held;
      assert.ok(!(r instanceof Error), `the approved statement ran: ${(r as Error).message}`);
      assert.equal((r as pg.QueryResult).rowCount, 10);
      assert.equal(east.core.approvals.list().find((a) => a.id === pending.id)?.decidedBy, 'alice-ops');
      assert.ok(events.some((e) => e.event === 'approval-changed' && e.data.id === pending.id));
      await assert.rejects(call(service.decideApproval(pending.id, 'deny', 'bob')), /already/);
    } finally {
      await c.end();
    }
  });

  test('back to the local store: the local view again', async () => {
    const src = await call(service.closeSharedStore());
    assert.equal(src.kind, 'local');
    assert.equal((await call(service.storeSource())).kind, 'local');
    assert.equal((await call(service.searchSessions({ text: 'storepick' }))).total, 0);
    assert.deepEqual(await call(service.listApprovals('pending')), []);
    assert.ok(events.some((e) => e.event === 'store-source-changed' && e.data.kind === 'local'));
  });

  test('no password ever came back: not in answers, errors, events or logs', () => {
    assert.ok(seen.length > 20);
    for (const secret of [AUDITOR.password, APPROVER.password, WRONG, db.password, store.password]) {
      for (const text of [...seen, ...logs])
        assert.ok(!text.includes(secret), `a password in: ${text.slice(0, 200)}`);
    }
  });
});
