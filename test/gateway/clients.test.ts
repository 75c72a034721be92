// Every real client through the gateway, against PostgreSQL 18 and Debian's 15: psycopg 3, pgjdbc
// (plain and TLS to the gateway), pgbench in its three query modes and the MCP Postgres server.
// Each one prints through the gateway what it prints straight against the server, and the
// gateway's recording holds its statements (identity, SQL, protocol, parameters, rows, tags) with
// the integrity chain intact.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { SessionStore, StoredFrame } from '../../proxy/store/types.js';
import { decodeFrame } from '../../proxy/wire/decode.js';
import type { SessionInfo, StatementRecord } from '../../shared/types.js';
import { McpRpcError, McpStdioClient } from '../fixtures/mcp_client.js';
import { type RunResult, repoRoot, runJdbc, runPgbench, runPsycopg } from '../helpers/clients.js';
import { AGENT, eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { type PgVersion, startPostgres, type TestPostgres } from '../helpers/postgres.js';

function ok(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what} exited ${r.code ?? r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r.stdout;
}

interface Recorded {
  info: SessionInfo;
  statements: StatementRecord[];
}

/** Ids of the sessions recorded so far, to tell a client run's sessions from earlier ones. */
function mark(gw: TestGateway): Set<string> {
  const store = gw.readStore();
  try {
    return new Set(store.listSessions().map((s) => s.id));
  } finally {
    store.close();
  }
}

/**
 * The sessions recorded since `before` (oldest first) with their statements; checks they all
 * belong to identity `agent` on connection `app`, and that the store's chain verifies.
 */
function recordedSince(
  gw: TestGateway,
  before: Set<string>,
  more?: (store: SessionStore, r: Recorded[]) => void,
): Recorded[] {
  const store = gw.readStore();
  try {
    const sessions = store
      .listSessions()
      .filter((s) => !before.has(s.id))
      .reverse()
      .map((info) => ({ info, statements: store.listStatements(info.id) }));
    assert.ok(sessions.length > 0, 'the run is recorded');
    for (const { info } of sessions) {
      assert.equal(info.identity, AGENT.name);
      assert.equal(info.connection, 'app');
      assert.equal(info.authMethod, 'scram-sha-256');
    }
    more?.(store, sessions);
    const v = store.verify();
    assert.equal(v.ok, true, `store chain: ${JSON.stringify(v)}`);
    return sessions;
  } finally {
    store.close();
  }
}

/** The one statement with exactly this SQL (across the given sessions). */
function one(rs: Recorded[], sql: string): StatementRecord {
  const found = rs.flatMap((r) => r.statements).filter((s) => s.sql === sql);
  const all = rs.flatMap((r) => r.statements.map((s) => s.sql));
  assert.equal(found.length, 1, `exactly one "${sql}" among:\n${all.join('\n')}`);
  return found[0];
}

function all(rs: Recorded[], sql: string): StatementRecord[] {
  return rs.flatMap((r) => r.statements).filter((s) => s.sql === sql);
}

/** Every frame of a session, decoded. */
function decodedFrames(store: SessionStore, sessionId: string) {
  const frames: StoredFrame[] = store.readFrames(sessionId, 0, 1_000_000);
  return frames.map((f) => ({ dir: f.dir, ...decodeFrame(f.dir, f.type, f.body) }));
}

const MCP_SERVER = path.join(repoRoot(), 'node_modules/@modelcontextprotocol/server-postgres/dist/index.js');

/** The environment without PG* variables, so a developer's PGSSLMODE etc. cannot change a run. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG')));
}

const MCP_SELECT = 'SELECT id, name, price, tags FROM items WHERE id <= 3 ORDER BY id';
const MCP_WRITE = "INSERT INTO items (id, name) VALUES (999, 'written by an agent')";

/**
 * One MCP conversation: initialize, tools/list, a read-only query, a write that the server's
 * READ ONLY transaction refuses, resources/list and resources/read. Returns the answers.
 */
async function mcpConversation(url: string): Promise<Record<string, unknown>> {
  const mcp = new McpStdioClient(process.execPath, [MCP_SERVER, url], cleanEnv());
  try {
    const init = await mcp.initialize();
    const tools = await mcp.request('tools/list');
    const query = await mcp.request('tools/call', { name: 'query', arguments: { sql: MCP_SELECT } });
    const write = await mcp.request('tools/call', { name: 'query', arguments: { sql: MCP_WRITE } }).then(
      (r) => ({ unexpectedlyAnswered: r }),
      (e: unknown) => {
        assert.ok(e instanceof McpRpcError, String(e));
        return { error: e.error.message };
      },
    );
    const resources = await mcp.request<{ resources: { uri: string; name: string; mimeType: string }[] }>(
      'resources/list',
    );
    const items = resources.resources.find((r) => r.name === '"items" database schema');
    assert.ok(items, `items among ${JSON.stringify(resources.resources)}`);
    const read = await mcp.request('resources/read', { uri: items.uri });
    assert.deepEqual(mcp.invalidLines, [], 'the server writes only JSON-RPC to stdout');
    // The resource URIs are the database URL without its password: user, port and database name
    // legitimately differ between the direct run and the gateway run.
    const uriOf = (u: string) => u.replace(/^postgres:\/\/[^/]*\//, 'postgres://SERVER/');
    return {
      init,
      tools,
      query,
      write,
      resources: resources.resources
        .map((r) => ({ ...r, uri: uriOf(r.uri) }))
        .sort((a, b) => a.name.localeCompare(b.name)),
      read: JSON.parse(JSON.stringify(read).replaceAll(items.uri, uriOf(items.uri))),
    };
  } finally {
    await mcp.close();
  }
}

/** pgbench's timing lines legitimately differ from run to run; everything else must not. */
function normalizePgbench(out: string): string {
  return out
    .replace(/^(latency average|latency stddev|initial connection time) = [\d.]+ ms$/gm, '$1 = N ms')
    .replace(/^tps = [\d.]+ /gm, 'tps = N ');
}

const BENCH_SQL = /^SELECT abalance FROM pgbench_accounts WHERE aid = (\$1|\d+);$/;

for (const version of [18, 15] as PgVersion[]) {
  describe(`PostgreSQL ${version}`, () => {
    let db: TestPostgres;
    let gw: TestGateway;

    before(async () => {
      db = await startPostgres({ version });
      const setup = new pg.Client({ ...db });
      await setup.connect();
      await setup.query(`
        CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2), tags text[]);
        INSERT INTO items SELECT g, 'item ' || g, g * 1.25, ARRAY['t' || g] FROM generate_series(1, 20) g;`);
      await setup.end();
      // Straight to the server: initialization drops and creates tables, which the gateway's
      // default policy may refuse.
      ok(await runPgbench(['-i', '-s', '1', '-q'], db), 'pgbench -i');
      gw = await startGateway(db);
    });

    after(async () => {
      await gw?.stop();
      await db?.stop();
    });

    test('psycopg 3: same output as direct, statements recorded', async () => {
      const before = mark(gw);
      const direct = ok(await runPsycopg([], db), 'psycopg direct');
      const via = ok(await runPsycopg([], gw.target()), 'psycopg via gateway');
      // Nothing to normalize: the fixture prints only values, no ports, pids or timings.
      assert.equal(via, direct);
      assert.match(via, /^after-error \["still ok"\]\ndone\n$/m);

      const rs = recordedSince(gw, before);
      assert.equal(rs.length, 1);
      assert.equal(rs[0].info.tls, false);

      // No parameters: simple protocol.
      const simple = one(rs, "SELECT 1 AS one, 'two' AS two, NULL AS three");
      assert.equal(simple.protocol, 'simple');
      assert.equal(simple.params, null);
      assert.equal(simple.rows, 1);
      assert.equal(simple.tag, 'SELECT 1');
      // Parameters: extended protocol; psycopg sends the int and bytes in binary (shown as \x hex).
      const params = one(
        rs,
        'SELECT $1::int + 1 AS n, $2::text AS t, $3::numeric AS d, $4::bytea AS b, $5::text AS z',
      );
      assert.equal(params.protocol, 'extended');
      assert.deepEqual(params.params, ['\\x0029', 'héllo wörld', '1.50', '\\x0001ff', null]);
      assert.equal(params.tag, 'SELECT 1');
      const inserts = all(rs, 'INSERT INTO smoke (id, label, amount, data) VALUES ($1, $2, $3, $4)');
      assert.deepEqual(
        inserts.map((s) => [s.protocol, s.params?.[1], s.tag]),
        Array.from({ length: 10 }, (_, i) => ['extended', `row ${i + 1}`, 'INSERT 0 1']),
      );
      // Executed 7 times; psycopg switches to a named prepared statement after 5: still one
      // statement per execution, each with its parameter.
      const prepared = all(rs, 'SELECT label FROM smoke WHERE id = $1');
      assert.deepEqual(
        prepared.map((s) => [s.params, s.rows, s.tag]),
        Array.from({ length: 7 }, (_, i) => [[`\\x000${i + 1}`], 1, 'SELECT 1']),
      );
      assert.equal(one(rs, 'COPY smoke (id, label, amount) FROM STDIN').tag, 'COPY 10');
      assert.equal(
        one(rs, 'COPY (SELECT id, label FROM smoke WHERE id >= 20 ORDER BY id) TO STDOUT').tag,
        'COPY 10',
      );
      const err = one(rs, 'SELECT 1 / 0');
      assert.equal(err.errorCode, '22012');
      assert.match(err.errorMessage ?? '', /division by zero/);
      assert.equal(one(rs, "SELECT 'still ok'").rows, 1);
      const sel = one(rs, 'SELECT id FROM smoke WHERE id IN (500, 501) ORDER BY id');
      assert.equal(sel.rows, 1);
      assert.equal(sel.tag, 'SELECT 1');
    });

    test('pgjdbc: same output as direct, plain and with sslmode=require to the gateway', async () => {
      const before = mark(gw);
      const direct = ok(await runJdbc([], db), 'jdbc direct');
      const via = ok(await runJdbc([], gw.target()), 'jdbc via gateway');
      const viaTls = ok(await runJdbc([], gw.target({ sslmode: 'require' })), 'jdbc via gateway over TLS');
      // Nothing to normalize: the fixture prints only values (timestamps in UTC).
      assert.equal(via, direct);
      assert.equal(viaTls, direct);
      assert.match(via, /^prepared-insert \{"rows":8,"serverPrepared":true\}$/m);

      const rs = recordedSince(gw, before);
      assert.deepEqual(
        rs.map((r) => r.info.tls),
        [false, true],
      );
      for (const r of rs) {
        const simple = one([r], "SELECT 1 AS one, 'two'::text AS two, NULL::int AS three");
        // pgjdbc uses the extended protocol even without parameters.
        assert.equal(simple.protocol, 'extended');
        assert.deepEqual(simple.params, []);
        assert.equal(simple.rows, 1);
        const inserts = all([r], 'INSERT INTO smoke VALUES ($1, $2, $3, $4, $5, $6)');
        assert.equal(inserts.length, 8);
        inserts.forEach((s, i) => {
          assert.equal(s.protocol, 'extended');
          assert.equal(s.tag, 'INSERT 0 1');
          assert.equal(s.params?.length, 6);
          assert.equal(s.params?.[1], `row ${i + 1}`);
          assert.equal(s.params?.[5], null);
        });
        const selects = all([r], 'SELECT * FROM smoke WHERE id = $1');
        assert.deepEqual(
          selects.map((s) => [s.rows, s.tag]),
          Array.from({ length: 7 }, () => [1, 'SELECT 1']),
        );
        const batch = all([r], 'INSERT INTO smoke (id, label) VALUES ($1, $2)');
        assert.deepEqual(
          batch.map((s) => s.params?.[1]),
          Array.from({ length: 10 }, (_, i) => `batch ${100 + i}`),
        );
        // Fetched 7 rows at a time through one portal: one record per Execute, each ending at
        // PortalSuspended, the last at CommandComplete (whose tag counts that Execute's rows).
        const fetched = all([r], "SELECT g, 'item-' || g AS label FROM generate_series(1, 50) g");
        assert.deepEqual(
          fetched.map((s) => [s.rows, s.tag]),
          [...Array.from({ length: 7 }, () => [7, null]), [1, 'SELECT 1']],
        );
        assert.equal(one([r], 'SELECT id, label, at, amount, data FROM smoke ORDER BY id').rows, 18);
        assert.equal(one([r], 'SELECT 1 / 0').errorCode, '22012');
        assert.equal(one([r], "SELECT 'still ok'").rows, 1);
      }
    });

    for (const mode of ['simple', 'extended', 'prepared'] as const) {
      test(`pgbench -M ${mode}: same report as direct, every transaction recorded`, async () => {
        // -n: no VACUUM / TRUNCATE pgbench_history before the run (a select-only run writes
        // nothing, and the default policy may refuse TRUNCATE through the gateway).
        const args = ['-n', '-S', '-t', '200', '-c', '4', '-j', '2', '-M', mode];
        const direct = ok(await runPgbench(args, { ...db, sslmode: 'disable' }), `pgbench ${mode} direct`);
        const before = mark(gw);
        const via = ok(await runPgbench(args, gw.target()), `pgbench ${mode} via gateway`);
        assert.match(via, /^number of transactions actually processed: 800\/800$/m);
        assert.match(via, /^number of failed transactions: 0 \(0\.000%\)$/m);
        assert.match(via, new RegExp(`^query mode: ${mode}$`, 'm'));
        assert.equal(normalizePgbench(via), normalizePgbench(direct));

        recordedSince(gw, before, (store, rs) => {
          assert.ok(rs.every((r) => r.info.applicationName === 'pgbench'));
          const bench = rs.filter((r) => r.statements.some((s) => BENCH_SQL.test(s.sql)));
          assert.equal(bench.length, 4, 'one session per client');
          for (const r of bench) {
            const sts = r.statements.filter((s) => BENCH_SQL.test(s.sql));
            assert.equal(sts.length, 200);
            for (const s of sts) {
              assert.equal(s.protocol, mode === 'simple' ? 'simple' : 'extended');
              assert.equal(s.rows, 1);
              assert.equal(s.tag, 'SELECT 1');
              assert.equal(s.errorCode, null);
              if (mode === 'simple') {
                assert.equal(s.params, null);
                assert.match(s.sql, /aid = \d+;$/);
              } else {
                assert.equal(s.sql, 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;');
                assert.equal(s.params?.length, 1);
                assert.match(s.params[0] ?? '', /^\d+$/);
                assert.ok(Number(s.params[0]) >= 1 && Number(s.params[0]) <= 100_000);
              }
            }
            // The frames show how: Query, unnamed Parse per execution, or one named Parse.
            const frames = decodedFrames(store, r.info.id).filter((f) => f.dir === 'client');
            const parses = frames.filter((f) => f.type === 'Parse');
            const binds = frames.filter((f) => f.type === 'Bind');
            if (mode === 'simple') {
              assert.equal(parses.length, 0);
              assert.equal(frames.filter((f) => f.type === 'Query').length, 200);
            } else if (mode === 'extended') {
              assert.equal(parses.length, 200);
              assert.ok(binds.every((b) => b.decoded.statement === ''));
            } else {
              assert.equal(parses.length, 1, 'prepared once per connection');
              const name = parses[0].decoded.name as string;
              assert.notEqual(name, '');
              assert.equal(binds.length, 200);
              assert.ok(binds.every((b) => b.decoded.statement === name));
            }
          }
        });
      });
    }

    test('MCP Postgres server over stdio: same answers as direct, statements recorded', async () => {
      const direct = await mcpConversation(db.url);
      const before = mark(gw);
      const via = await mcpConversation(
        `postgresql://${AGENT.name}:${AGENT.password}@127.0.0.1:${gw.port}/db`,
      );
      assert.deepEqual(via, direct);

      // What the answers hold.
      const init = via.init as { serverInfo: { name: string }; capabilities: Record<string, unknown> };
      assert.equal(init.serverInfo.name, 'example-servers/postgres');
      assert.ok(init.capabilities.tools && init.capabilities.resources);
      assert.deepEqual(
        (via.tools as { tools: { name: string }[] }).tools.map((t) => t.name),
        ['query'],
      );
      const query = via.query as { isError: boolean; content: { type: string; text: string }[] };
      assert.equal(query.isError, false);
      assert.deepEqual(JSON.parse(query.content[0].text), [
        { id: 1, name: 'item 1', price: '1.25', tags: ['t1'] },
        { id: 2, name: 'item 2', price: '2.50', tags: ['t2'] },
        { id: 3, name: 'item 3', price: '3.75', tags: ['t3'] },
      ]);
      assert.match((via.write as { error?: string }).error ?? '', /read-only transaction/);
      assert.deepEqual(
        (via.resources as { name: string }[]).map((r) => r.name),
        ['items', 'pgbench_accounts', 'pgbench_branches', 'pgbench_history', 'pgbench_tellers'].map(
          (t) => `"${t}" database schema`,
        ),
      );
      const read = via.read as { contents: { text: string }[] };
      const columns = JSON.parse(read.contents[0].text) as { column_name: string }[];
      // The server's query has no ORDER BY.
      assert.deepEqual(
        columns.sort((a, b) => a.column_name.localeCompare(b.column_name)),
        [
          { column_name: 'id', data_type: 'integer' },
          { column_name: 'name', data_type: 'text' },
          { column_name: 'price', data_type: 'numeric' },
          { column_name: 'tags', data_type: 'ARRAY' },
        ],
      );

      // The server sends ROLLBACK after it has answered: wait until it is recorded.
      await eventually(
        () => {
          const store = gw.readStore();
          try {
            const n = store
              .listSessions()
              .filter((s) => !before.has(s.id))
              .flatMap((s) => store.listStatements(s.id))
              .filter((s) => s.sql === 'ROLLBACK').length;
            return n >= 2 ? true : undefined;
          } finally {
            store.close();
          }
        },
        5000,
        'both ROLLBACKs recorded',
      );
      const rs = recordedSince(gw, before);
      assert.ok(rs.every((r) => r.info.database === 'db'));
      const sts = rs.flatMap((r) => r.statements);
      const sqls = sts.map((s) => s.sql);
      // Each tool call is BEGIN TRANSACTION READ ONLY, the statement, ROLLBACK (one pooled session).
      const at = sqls.indexOf(MCP_SELECT);
      assert.deepEqual(sqls.slice(at - 1, at + 2), ['BEGIN TRANSACTION READ ONLY', MCP_SELECT, 'ROLLBACK']);
      const w = sqls.indexOf(MCP_WRITE);
      assert.deepEqual(sqls.slice(w - 1, w + 2), ['BEGIN TRANSACTION READ ONLY', MCP_WRITE, 'ROLLBACK']);
      assert.equal(sts[at - 1].tag, 'BEGIN');
      assert.equal(sts[at].protocol, 'simple');
      assert.equal(sts[at].rows, 3);
      assert.equal(sts[at].tag, 'SELECT 3');
      assert.equal(sts[at + 1].tag, 'ROLLBACK');
      assert.equal(sts[w].errorCode, '25006');
      assert.equal(sts[w].tag, null);
      const list = one(rs, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
      assert.equal(list.rows, 5);
      const describe = one(
        rs,
        'SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1',
      );
      assert.equal(describe.protocol, 'extended');
      assert.deepEqual(describe.params, ['items']);
      assert.equal(describe.rows, 4);
    });
  });
}
