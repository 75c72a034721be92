// What a Bind, Execute or SQL EXECUTE runs is what the server runs: a Parse the server refuses
// (its name is in use) must not change what the gateway believes that name holds, for the
// guardrails or for masking. Checked on the server and on the bytes the client gets, with
// hand-made protocol messages through a real gateway, sent one batch at a time and pipelined.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { AGENT, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  bindMessage,
  dataRowValues,
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
const SECRET = 'launch code tangerine';

before(async () => {
  db = await startPostgres({ version: 18 });
  direct = new pg.Client({ connectionString: db.url });
  await direct.connect();
  await direct.query(`CREATE TABLE items (id int PRIMARY KEY, name text);
    INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 20) g;
    CREATE TABLE vault (id int PRIMARY KEY, secret text);
    INSERT INTO vault VALUES (1, '${SECRET}');`);
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'vault' },
    ],
    policies: {
      vault: {
        // No detector finds the secret: only the column rule, through lineage, can mask it.
        masking: [{ name: 'vault-secret', columns: ['public.vault.secret'], strategy: 'redact' }],
      },
    },
  });
});

after(async () => {
  await direct?.end();
  await gw?.stop();
  await db?.stop();
});

async function login(): Promise<RawClient> {
  const c = await RawClient.connect(gw.host, gw.port);
  await c.login({ user: AGENT.name, password: AGENT.password });
  return c;
}

const count = async () => Number((await direct.query('SELECT count(*) AS n FROM items')).rows[0].n);

/** Messages up to the next ReadyForQuery. */
const untilReady = (c: RawClient, timeoutMs = 5000): Promise<RawMessage[]> => c.readUntil('Z', timeoutMs);

const errorsOf = (ms: RawMessage[]) => ms.filter((m) => m.type === 'E').map((m) => errorFields(m.body));

describe('a refused Parse changes nothing the gateway believes', () => {
  test('SQL EXECUTE of a statement the server kept is decided on that statement, not on the refused text', async () => {
    const c = await login();
    try {
      // A human approves preparing an unbounded DELETE; each execution still needs approval.
      c.write(queryMessage('PREPARE wipe AS DELETE FROM items'));
      const held = await eventually(
        () => gw.core.approvals.list('pending').find((a) => a.sql.includes('PREPARE wipe')),
        5000,
        'the PREPARE to be held',
      );
      gw.core.approvals.decide(held.id, 'approve', 'ops-alice');
      assert.deepEqual(errorsOf(await untilReady(c)), []);
      // The same name, harmless text: the server refuses it (42P05) and keeps the DELETE.
      c.write(Buffer.concat([parseMessage('wipe', 'SELECT 1'), syncMessage()]));
      assert.equal(errorsOf(await untilReady(c))[0]?.C, '42P05');
      c.write(queryMessage('EXECUTE wipe'));
      const again = await eventually(
        () => gw.core.approvals.list('pending').find((a) => a.sql.includes('EXECUTE wipe')),
        5000,
        'EXECUTE wipe to be held for approval as the DELETE it runs',
      );
      assert.equal(await count(), 20, 'nothing was deleted while it waits');
      gw.core.approvals.decide(again.id, 'deny', 'ops-alice');
      const denied = errorsOf(await untilReady(c));
      assert.equal(denied[0]?.C, '42501');
      assert.equal(await count(), 20, 'the table still has every row');
    } finally {
      c.socket.destroy();
    }
  });

  for (const pipelined of [false, true]) {
    test(`a Bind after a refused re-Parse is masked as the statement the server runs (${pipelined ? 'pipelined' : 'one batch at a time'})`, async () => {
      const c = await login();
      try {
        const first = Buffer.concat([
          parseMessage('s1', 'SELECT upper(secret) AS x FROM vault'),
          syncMessage(),
        ]);
        const reparse = Buffer.concat([parseMessage('s1', "SELECT 'harmless' AS x"), syncMessage()]);
        const run = Buffer.concat([bindMessage('', 's1', []), executeMessage(''), syncMessage()]);
        let replies: RawMessage[];
        if (pipelined) {
          c.write(Buffer.concat([first, reparse, run]));
          replies = [...(await untilReady(c)), ...(await untilReady(c)), ...(await untilReady(c))];
        } else {
          c.write(first);
          replies = await untilReady(c);
          c.write(reparse);
          replies.push(...(await untilReady(c)));
          c.write(run);
          replies.push(...(await untilReady(c)));
        }
        assert.deepEqual(
          errorsOf(replies).map((e) => e.C),
          ['42P05'],
          'the re-Parse is refused by the server',
        );
        const rows = replies.filter((m) => m.type === 'D').map((m) => dataRowValues(m.body)[0]);
        assert.equal(rows.length, 1, 'the old statement ran');
        assert.notEqual(rows[0], SECRET.toUpperCase(), 'the secret came back in clear');
        assert.equal(String(rows[0]).includes('TANGERINE'), false);
      } finally {
        c.socket.destroy();
      }
    });
  }

  test('SQL EXECUTE after a refused re-PREPARE is masked as the statement the server runs', async () => {
    const c = await login();
    try {
      c.write(queryMessage('PREPARE s2 AS SELECT upper(secret) AS x FROM vault'));
      assert.deepEqual(errorsOf(await untilReady(c)), []);
      c.write(queryMessage("PREPARE s2 AS SELECT 'harmless' AS x"));
      assert.equal(errorsOf(await untilReady(c))[0]?.C, '42P05');
      // Pipelined too: the refusal and the EXECUTE in one batch of simple Queries.
      c.write(
        Buffer.concat([queryMessage("PREPARE s2 AS SELECT 'harmless' AS x"), queryMessage('EXECUTE s2')]),
      );
      const replies = [...(await untilReady(c)), ...(await untilReady(c))];
      c.write(queryMessage('EXECUTE s2'));
      replies.push(...(await untilReady(c)));
      const rows = replies.filter((m) => m.type === 'D').map((m) => String(dataRowValues(m.body)[0]));
      assert.equal(rows.length, 2, 'the old statement ran twice');
      for (const r of rows)
        assert.equal(r.includes('TANGERINE'), false, `the secret came back in clear: ${r}`);
    } finally {
      c.socket.destroy();
    }
  });

  test('a message that must wait for an answer the server withholds during COPY FROM STDIN ends the session, never hangs it', async () => {
    const c = await login();
    try {
      c.write(queryMessage('PREPARE s3 AS SELECT 1'));
      assert.deepEqual(errorsOf(await untilReady(c)), []);
      // After this Query, "s3" is the old or the new statement depending on how far it got, and
      // the server then waits for COPY data, answering nothing more.
      c.write(
        Buffer.concat([
          queryMessage('DEALLOCATE s3; PREPARE s3 AS SELECT 2; COPY items FROM STDIN'),
          queryMessage('EXECUTE s3'),
        ]),
      );
      const got = await c.readToEnd(5000);
      const fatal = got.filter((m) => m.type === 'E').map((m) => errorFields(m.body));
      assert.ok(
        fatal.some((f) => f.S === 'FATAL' && f.C === '08P01'),
        JSON.stringify(fatal),
      );
      assert.equal(await count(), 20, 'nothing was copied into the table');
    } finally {
      c.socket.destroy();
    }
  });

  describe('prepared statements and portals share one namespace each, whichever way they were made', () => {
    const SECRET_SQL = 'SELECT upper(secret) AS x FROM vault';
    /** Sends one batch per element, each to its ReadyForQuery; returns every DataRow's first value. */
    async function rowsOf(batches: Buffer[]): Promise<string[]> {
      const c = await login();
      try {
        const out: string[] = [];
        for (const b of batches) {
          c.write(b);
          for (const m of await untilReady(c)) if (m.type === 'D') out.push(String(dataRowValues(m.body)[0]));
        }
        return out;
      } finally {
        c.socket.destroy();
      }
    }
    const assertMasked = (rows: string[], what: string) => {
      assert.ok(rows.length > 0, `${what}: the secret's row came back`);
      for (const r of rows) assert.equal(r.includes('TANGERINE'), false, `${what}: in clear: ${r}`);
    };
    const batch = (...ms: Buffer[]) => Buffer.concat([...ms, syncMessage()]);

    test('SQL EXECUTE of a statement a protocol Parse made', async () => {
      assertMasked(
        await rowsOf([batch(parseMessage('p5', SECRET_SQL)), queryMessage('EXECUTE p5')]),
        'EXECUTE',
      );
      // In one batch, without a Sync between.
      assertMasked(
        await rowsOf([
          Buffer.concat([parseMessage('p6', SECRET_SQL), queryMessage('EXECUTE p6')]),
          syncMessage(),
        ]),
        'pipelined EXECUTE',
      );
    });

    test('SQL FETCH from a portal a protocol Bind made', async () => {
      assertMasked(
        await rowsOf([
          queryMessage('BEGIN'),
          batch(parseMessage('s6', SECRET_SQL), bindMessage('c6', 's6', [])),
          queryMessage('FETCH ALL FROM c6'),
          queryMessage('ROLLBACK'),
        ]),
        'FETCH',
      );
    });

    test('protocol Execute of a cursor SQL DECLAREd', async () => {
      assertMasked(
        await rowsOf([
          queryMessage(`DECLARE h1 CURSOR WITH HOLD FOR ${SECRET_SQL}`),
          batch(executeMessage('h1')),
          queryMessage('CLOSE h1'),
        ]),
        'Execute of a cursor',
      );
    });

    test('a Bind the server refuses keeps the unnamed portal, which ROLLBACK TO SAVEPOINT brings back', async () => {
      assertMasked(
        await rowsOf([
          queryMessage('BEGIN'),
          batch(parseMessage('', SECRET_SQL), bindMessage('', '', [])),
          // A savepoint through named portals: a simple Query would replace the unnamed portal.
          batch(parseMessage('', 'SAVEPOINT s'), bindMessage('x', '', []), executeMessage('x')),
          batch(bindMessage('', 'no_such_statement', [])),
          batch(parseMessage('', 'ROLLBACK TO s'), bindMessage('y', '', []), executeMessage('y')),
          batch(executeMessage('')),
          queryMessage('ROLLBACK'),
        ]),
        'Execute of the kept portal',
      );
    });
  });
});
