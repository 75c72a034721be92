// A policy change reaches open sessions (issue 17, class 8): saving the policies through the
// app's save path (CoreService.savePolicies) switches every open session of a changed policy at
// its next statement, guardrails and masking alike, and the save says how many. Checked on the
// server (the row is still there) and on the bytes the client got (the secret never in them).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { CoreService } from '../../proxy/api/service.js';
import { AGENT, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  bindMessage,
  errorFields,
  executeMessage,
  parseMessage,
  queryMessage,
  RawClient,
  type RawMessage,
  syncMessage,
} from '../helpers/raw-client.js';

let db: TestPostgres;
let gw: TestGateway;
let direct: pg.Client;
let service: CoreService;
const SECRET = 'launch code tangerine';

const OPEN = { live: { guardrails: ['default'] }, other: { read_only: true } };
const yaml = (policies: unknown) => JSON.stringify(policies);

before(async () => {
  db = await startPostgres({ version: 18 });
  direct = new pg.Client({ connectionString: db.url });
  await direct.connect();
  await direct.query(`CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10);
    CREATE TABLE vault (id int PRIMARY KEY, secret text); INSERT INTO vault VALUES (1, '${SECRET}');`);
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'live' },
      { name: 'bystander', password: 'bystander-secret', oidc: null, connections: ['app'], policy: 'other' },
    ],
    policies: OPEN,
  });
  service = new CoreService(gw.core, { operator: 'ops-test', approvals: null });
});

after(async () => {
  service?.dispose();
  await direct?.end();
  await gw?.stop();
  await db?.stop();
});

async function login(user = AGENT.name, password = AGENT.password): Promise<RawClient> {
  const c = await RawClient.connect(gw.host, gw.port);
  await c.login({ user, password });
  return c;
}
const untilReady = (c: RawClient): Promise<RawMessage[]> => c.readUntil('Z', 5000);
const errorsOf = (ms: RawMessage[]) => ms.filter((m) => m.type === 'E').map((m) => errorFields(m.body));
const bytesOf = (ms: RawMessage[]) => Buffer.concat(ms.map((m) => m.body));
const exists = async (id: number) =>
  (await direct.query('SELECT 1 FROM t WHERE id = $1', [id])).rowCount === 1;

async function save(policies: unknown): Promise<number> {
  const r = await service.savePolicies(yaml(policies), 'ops-test');
  assert.equal(r.ok, true, JSON.stringify(r.problems));
  return r.switchedSessions;
}

describe('a saved policy reaches open sessions at their next statement', () => {
  test('guardrails: an allowed DELETE is blocked in the open sessions once a block is saved', async () => {
    await save(OPEN);
    const pooled = new pg.Client(gw.target());
    await pooled.connect();
    const raw = await login();
    const bystander = await login('bystander', 'bystander-secret');
    try {
      await pooled.query('DELETE FROM t WHERE id = 1');
      assert.equal(await exists(1), false, 'allowed before the change');
      // A prepared statement parsed under the old policy, executed once under it.
      raw.write(
        Buffer.concat([
          parseMessage('del', 'DELETE FROM t WHERE id = $1'),
          bindMessage('', 'del', ['2']),
          executeMessage(''),
          syncMessage(),
        ]),
      );
      assert.deepEqual(errorsOf(await untilReady(raw)), []);
      assert.equal(await exists(2), false);

      const switched = await save({
        ...OPEN,
        live: {
          guardrails: [
            { name: 'no-delete-t', match: { kind: ['delete'], relation: ['t'] }, action: 'block' },
            'default',
          ],
        },
      });
      // The two open sessions of "live" switch; the bystander's policy did not change.
      assert.equal(switched, 2);

      await assert.rejects(
        pooled.query('DELETE FROM t WHERE id = 3'),
        (e: { code?: string; message?: string }) => {
          return e.code === '42501' && /no-delete-t/.test(e.message ?? '');
        },
      );
      assert.equal(await exists(3), true, 'the open session did not delete row 3');

      raw.write(Buffer.concat([bindMessage('', 'del', ['4']), executeMessage(''), syncMessage()]));
      const errs = errorsOf(await untilReady(raw));
      assert.equal(errs[0]?.C, '42501');
      assert.match(errs[0]?.M ?? '', /no-delete-t/);
      assert.equal(
        await exists(4),
        true,
        'the statement prepared before the change is decided under the new policy',
      );

      // The session goes on under the new policy.
      assert.equal((await pooled.query('SELECT count(*)::int AS n FROM t')).rows[0].n, 8);
      bystander.write(queryMessage('SELECT 1'));
      assert.deepEqual(errorsOf(await untilReady(bystander)), []);
      // A save that changes only another policy switches only that policy's session.
      assert.equal(
        await save({
          ...OPEN,
          live: {
            guardrails: [
              { name: 'no-delete-t', match: { kind: ['delete'], relation: ['t'] }, action: 'block' },
              'default',
            ],
          },
          other: { read_only: true, approval_timeout: '1m' },
        }),
        1,
      );
      await assert.rejects(pooled.query('DELETE FROM t WHERE id = 5'), { code: '42501' });
      assert.equal(await exists(5), true);
    } finally {
      await pooled.end();
      raw.socket.destroy();
      bystander.socket.destroy();
    }
  });

  test('masking: a rule added while a session is open masks its next result, and EXECUTE of an earlier PREPARE', async () => {
    await save(OPEN);
    const c = await login();
    try {
      c.write(queryMessage('SELECT secret FROM vault'));
      assert.ok(bytesOf(await untilReady(c)).includes(SECRET), 'not masked before the rule');
      c.write(queryMessage('PREPARE s AS SELECT upper(secret) AS x FROM vault'));
      assert.deepEqual(errorsOf(await untilReady(c)), []);
      c.write(Buffer.concat([parseMessage('q', 'SELECT secret FROM vault WHERE id = $1'), syncMessage()]));
      assert.deepEqual(errorsOf(await untilReady(c)), []);

      const switched = await save({
        ...OPEN,
        live: {
          guardrails: ['default'],
          masking: [{ name: 'vault-secret', columns: ['public.vault.secret'], strategy: 'redact' }],
        },
      });
      assert.equal(switched, 1);

      for (const [what, msg] of [
        ['a simple query', queryMessage('SELECT secret FROM vault')],
        ['EXECUTE of a statement prepared before', queryMessage('EXECUTE s')],
        [
          'Bind/Execute of a statement parsed before',
          Buffer.concat([bindMessage('', 'q', ['1']), executeMessage(''), syncMessage()]),
        ],
      ] as const) {
        c.write(msg);
        const ms = await untilReady(c);
        assert.deepEqual(errorsOf(ms), [], what);
        assert.ok(
          ms.some((m) => m.type === 'D'),
          `${what}: a row came back`,
        );
        const got = bytesOf(ms);
        assert.equal(got.includes(SECRET), false, `${what}: the secret reached the client`);
        assert.equal(got.includes(SECRET.toUpperCase()), false, `${what}: the secret reached the client`);
      }
    } finally {
      c.socket.destroy();
    }
  });

  test('a statement approved after its policy was replaced does not run', async () => {
    const review = { name: 'review-t', match: { kind: ['delete'], relation: ['t'] }, action: 'review' };
    await save({ ...OPEN, live: { guardrails: [review, 'default'] } });
    const c = await login();
    try {
      c.write(queryMessage('DELETE FROM t WHERE id = 6'));
      const held = await eventually(
        () => gw.core.approvals.list('pending').find((a) => a.sql === 'DELETE FROM t WHERE id = 6'),
        5000,
        'the DELETE to be held',
      );
      assert.equal(
        await save({ ...OPEN, live: { guardrails: [{ ...review, action: 'block' }, 'default'] } }),
        1,
      );
      gw.core.approvals.decide(held.id, 'approve', 'ops-alice');
      const errs = errorsOf(await untilReady(c));
      assert.equal(errs[0]?.C, '42501');
      assert.match(errs[0]?.M ?? '', /policies changed while approval/);
      assert.equal(await exists(6), true, 'row 6 is still there');
      c.write(queryMessage('DELETE FROM t WHERE id = 6'));
      assert.match(errorsOf(await untilReady(c))[0]?.M ?? '', /blocked.*review-t/);
      assert.equal(await exists(6), true);
    } finally {
      c.socket.destroy();
    }
  });

  test('a policy that becomes read-only ends its open sessions (the upstream login is read-write); a new login is read-only on the server', async () => {
    await save(OPEN);
    const c = await login();
    try {
      c.write(queryMessage('SELECT 1'));
      await untilReady(c);
      await save({ ...OPEN, live: { read_only: true } });
      c.write(queryMessage('DELETE FROM t WHERE id = 7'));
      const got = await c.readToEnd(5000);
      const fatal = errorsOf(got).find((f) => f.S === 'FATAL');
      assert.equal(fatal?.C, '57P01', JSON.stringify(errorsOf(got)));
      assert.match(fatal?.M ?? '', /is now read-only/);
      assert.equal(await exists(7), true, 'row 7 is still there');
    } finally {
      c.socket.destroy();
    }
    const again = await login();
    try {
      again.write(queryMessage('SHOW default_transaction_read_only'));
      const rows = (await untilReady(again)).filter((m) => m.type === 'D');
      assert.match(bytesOf(rows).toString(), /on/);
    } finally {
      again.socket.destroy();
      await save(OPEN);
    }
  });
});
