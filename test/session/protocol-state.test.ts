// The protocol-state model against a real PostgreSQL: random pipelines of Parse, Bind, Describe,
// Execute, Close, Sync, Flush and simple Queries (errors, refused Parses, name reuse, SQL PREPARE
// and DEALLOCATE, transactions) go straight to the server, and every reply is checked against the
// model's view: which request it answers, which statement a Bind, Describe or Execute really ran
// (each statement returns its own number), which names exist afterwards.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  MustWaitForServer,
  type Op,
  PreparedStatement,
  ProtocolState,
  type SqlEffect,
} from '../../proxy/session/protocol-state.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  bindMessage,
  ConnectionClosedError,
  cstr,
  dataRowValues,
  describePortal,
  errorFields,
  executeMessage,
  message,
  parseMessage,
  queryMessage,
  RawClient,
  type RawMessage,
  syncMessage,
} from '../helpers/raw-client.js';

type Cmd =
  | {
      k: 'parse';
      name: string;
      sql: 'ok' | 'rows' | 'bad' | 'fails' | 'prepare' | 'deallocate' | 'copy' | 'savepoint' | 'rollback-to';
    }
  | { k: 'bind'; portal: string; stmt: string }
  | { k: 'describe'; what: 'S' | 'P'; name: string }
  | { k: 'execute'; portal: string; max: number }
  | { k: 'close'; what: 'S' | 'P'; name: string }
  | { k: 'sync' }
  | { k: 'flush' }
  | { k: 'copy'; m: 'data' | 'done' | 'fail' }
  | {
      k: 'query';
      q:
        | 'copy'
        | 'select'
        | 'prepare'
        | 'deallocate'
        | 'deallocate-all'
        | 'begin'
        | 'commit'
        | 'error'
        | 'prepare-then-error';
    };

const names = fc.constantFrom('', 'a', 'b', 'c');
const portals = fc.constantFrom('', 'p');
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('parse' as const),
      name: names,
      sql: fc.constantFrom(
        'ok',
        'rows',
        'bad',
        'fails',
        'prepare',
        'deallocate',
        'copy',
        'savepoint',
        'rollback-to',
      ) as fc.Arbitrary<'ok'>,
    }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('bind' as const), portal: portals, stmt: names }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('describe' as const),
      what: fc.constantFrom('S', 'P') as fc.Arbitrary<'S'>,
      name: names,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ k: fc.constant('execute' as const), portal: portals, max: fc.constantFrom(0, 1) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('close' as const),
      what: fc.constantFrom('S', 'P') as fc.Arbitrary<'S'>,
      name: names,
    }),
  },
  { weight: 3, arbitrary: fc.constant({ k: 'sync' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'flush' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('copy' as const),
      m: fc.constantFrom('data', 'done', 'fail') as fc.Arbitrary<'data'>,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('query' as const),
      q: fc.constantFrom(
        'copy',
        'select',
        'prepare',
        'deallocate',
        'deallocate-all',
        'begin',
        'commit',
        'error',
        'prepare-then-error',
      ) as fc.Arbitrary<'select'>,
    }),
  },
);

/** The number a statement's SQL returns (and names its column after): "m<id>". */
function idOf(sql: string): string | null {
  return /m(\d+)/.exec(sql)?.[1] ?? null;
}

interface Built {
  bytes: Buffer;
  effects?: SqlEffect[];
}

let nextId = 1;
function build(c: Cmd): Built {
  const id = nextId++;
  const select = `SELECT ${id} AS m${id}`;
  switch (c.k) {
    case 'parse': {
      const sql = {
        ok: select,
        rows: `SELECT ${id} AS m${id} FROM generate_series(1, 2)`,
        bad: `SELEC ${id}`,
        // Fails when executed, not when parsed.
        fails: `SELECT ${id} / (random() * 0)::int AS m${id}`,
        prepare: `PREPARE c AS ${select}`,
        deallocate: 'DEALLOCATE c',
        copy: 'COPY t FROM STDIN',
        savepoint: 'SAVEPOINT s',
        'rollback-to': 'ROLLBACK TO s',
      }[c.sql];
      const effects: SqlEffect[] = [];
      if (c.sql === 'prepare') effects.push({ prepares: new PreparedStatement('c', sql, 'prepare') });
      if (c.sql === 'deallocate') effects.push({ deallocates: 'c' });
      return { bytes: parseMessage(c.name, sql), effects };
    }
    case 'bind':
      return { bytes: bindMessage(c.portal, c.stmt, []) };
    case 'describe':
      return {
        bytes: c.what === 'P' ? describePortal(c.name) : message('D', Buffer.from('S'), cstr(c.name)),
      };
    case 'execute':
      return { bytes: executeMessage(c.portal, c.max) };
    case 'close':
      return { bytes: message('C', Buffer.from(c.what), cstr(c.name)) };
    case 'sync':
      return { bytes: syncMessage() };
    case 'flush':
      return { bytes: message('H') };
    case 'copy':
      return {
        bytes:
          c.m === 'data'
            ? message('d', Buffer.from(`${id}\n`))
            : c.m === 'done'
              ? message('c')
              : message('f', cstr('no')),
      };
    case 'query': {
      const prepare = `PREPARE c AS ${select}`;
      switch (c.q) {
        case 'select':
          return { bytes: queryMessage(select) };
        case 'copy':
          return { bytes: queryMessage('COPY t FROM STDIN') };
        case 'prepare':
          return {
            bytes: queryMessage(prepare),
            effects: [{ prepares: new PreparedStatement('c', prepare, 'prepare') }],
          };
        case 'deallocate':
          return { bytes: queryMessage('DEALLOCATE c'), effects: [{ deallocates: 'c' }] };
        case 'deallocate-all':
          return { bytes: queryMessage('DEALLOCATE ALL'), effects: [{ deallocates: null }] };
        case 'begin':
          return { bytes: queryMessage('BEGIN') };
        case 'commit':
          return { bytes: queryMessage('COMMIT') };
        case 'error':
          return { bytes: queryMessage('SELECT 1/0') };
        case 'prepare-then-error':
          return {
            bytes: queryMessage(`${prepare}; SELECT 1/0; DEALLOCATE ALL`),
            effects: [
              { prepares: new PreparedStatement('c', prepare, 'prepare') },
              undefined as never,
              { deallocates: null },
            ],
          };
      }
    }
  }
}

/** Checks one server message against the model's reading of it; returns the model's reply op. */
function check(state: ProtocolState, m: RawMessage, log: string[]): Op | null {
  const code = m.type.charCodeAt(0);
  const head = state.head;
  // What a Bind / Describe / Execute resolved to decides the server's error codes.
  if (m.type === 'E') {
    const f = errorFields(m.body);
    log.push(`E ${f.C} ${f.M} (head ${head?.kind})`);
    // Everything before the head is answered. The model may keep a name the server has dropped
    // (a message naming it then fails, which runs nothing), never drop one the server kept: a
    // name unknown to the model fails on the server (or the transaction had failed already).
    const missing = (code: string) => [code, '25P02'].includes(f.C);
    if (head?.kind === 'bind' && state.confirmedStatement(head.portal.statementName) === null)
      assert.ok(missing('26000'), `statement "${head.portal.statementName}" is unknown to the model: ${f.C}`);
    if (head?.kind === 'execute' && state.confirmedPortal(head.name) === null)
      assert.ok(missing('34000'), `portal "${head.name}" is unknown to the model: ${f.C}`);
    if (head?.kind === 'describe-statement' && state.confirmedStatement(head.name) === null)
      assert.ok(missing('26000'), `Describe S "${head.name}": ${f.C}`);
    if (head?.kind === 'describe-portal' && state.confirmedPortal(head.name) === null)
      assert.ok(missing('34000'), `Describe P "${head.name}": ${f.C}`);
  } else {
    log.push(m.type);
    if (head?.kind === 'bind' && m.type === '2')
      assert.equal(head.portal.statement, state.confirmedStatement(head.portal.statementName));
    if (head?.kind === 'execute' && m.type !== 'Z')
      assert.equal(head.portal, state.confirmedPortal(head.name), `portal "${head.name}"`);
  }
  const reply = state.server(code, m.raw, 0, m.raw.length);
  const op = reply.op;
  if (m.type === 'D') {
    assert.ok(op?.kind === 'execute' || op?.kind === 'query', `a DataRow for ${op?.kind}`);
    if (op.kind === 'execute') {
      const sql = op.portal?.statement?.sql ?? '';
      assert.equal(
        dataRowValues(m.body)[0],
        idOf(sql),
        `Execute "${op.name}" ran the statement the model expects (${sql})`,
      );
    }
  }
  if (m.type === 'T' && (op?.kind === 'describe-statement' || op?.kind === 'describe-portal')) {
    const stmt = op.kind === 'describe-statement' ? op.statement : op.portal?.statement;
    const column = m.body.toString('utf8', 2, m.body.indexOf(0, 2));
    assert.equal(
      column,
      `m${idOf(stmt?.sql ?? '')}`,
      `Describe ${op.kind} "${op.name}" described what the model expects`,
    );
  }
  if (m.type === '1') assert.equal(op?.kind, 'parse');
  if (m.type === '2') assert.equal(op?.kind, 'bind');
  if (m.type === '3') assert.equal(op?.kind, 'close');
  if (m.type === 's') assert.equal(op?.kind, 'execute');
  return op;
}

class ConnectionEnded extends Error {}

async function runPipeline(db: TestPostgres, cmds: Cmd[]): Promise<void> {
  const raw = await RawClient.connect(db.host, db.port);
  const log: string[] = [];
  try {
    await raw.login({ user: db.user, password: db.password, database: db.database });
    const state = new ProtocolState();
    let seq = 0;
    let copying = false;
    const readOne = async () => {
      let m: RawMessage;
      try {
        m = await raw.readMessage(10_000);
      } catch (e) {
        // The server ends the connection when COPY from a simple Query meets another message; the
        // client's later writes may reset it before its FATAL is read.
        if (copying && e instanceof ConnectionClosedError) throw new ConnectionEnded();
        throw e;
      }
      if (m.type === 'G') copying = true;
      if (m.type === 'E' && errorFields(m.body).S === 'FATAL') throw new ConnectionEnded();
      return check(state, m, log);
    };
    const setup = queryMessage('CREATE TEMP TABLE t (x int)');
    state.client(setup[0], setup, 0, setup.length, ++seq, []);
    raw.write(setup);
    while (state.pending > 0) await readOne();
    for (const c of [...cmds, { k: 'copy', m: 'done' } as Cmd, { k: 'sync' } as Cmd]) {
      const b = build(c);
      log.push(`> ${JSON.stringify(c)}`);
      for (;;) {
        try {
          state.client(b.bytes[0], b.bytes, 0, b.bytes.length, ++seq, b.effects);
          break;
        } catch (e) {
          if (!(e instanceof MustWaitForServer)) throw e;
          // As the gateway does: hold the message until the server has answered what it depends on.
          log.push(`  wait: ${e.message}`);
          await readOne();
        }
      }
      raw.write(b.bytes);
    }
    while (state.pending > 0) await readOne();
    // What the server says exists now, against the model (outside any failed transaction).
    const q = queryMessage(
      "ROLLBACK; SELECT name, statement FROM pg_prepared_statements WHERE name IN ('a', 'b', 'c') ORDER BY 1",
    );
    state.client(q[0], q, 0, q.length, ++seq, []);
    raw.write(q);
    const server = new Map<string, string>();
    for (;;) {
      const m = await raw.readMessage(10_000);
      state.server(m.type.charCodeAt(0), m.raw, 0, m.raw.length);
      if (m.type === 'D') {
        const [n, s] = dataRowValues(m.body);
        server.set(n ?? '', s ?? '');
      }
      if (m.type === 'Z') break;
    }
    for (const n of ['a', 'b', 'c']) {
      const mine = state.confirmedStatement(n);
      assert.equal(
        mine === null ? null : idOf(mine.sql),
        server.has(n) ? idOf(server.get(n)!) : null,
        `statement "${n}"`,
      );
    }
  } catch (e) {
    if (e instanceof ConnectionEnded) return;
    (e as Error).message += `\n${log.join('\n')}`;
    if (process.env.PROTOCOL_DEBUG) console.error((e as Error).message);
    throw e;
  } finally {
    raw.socket.destroy();
  }
}

let db: TestPostgres;
before(async () => {
  db = await startPostgres({ version: 18 });
});
after(async () => {
  await db?.stop();
});

describe('protocol state against a real PostgreSQL', () => {
  test('random pipelines: every reply is the one the model expects, and so is every name', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb, { minLength: 1, maxLength: 30 }), (cmds) => runPipeline(db, cmds)),
      {
        numRuns: Number(process.env.PROTOCOL_RUNS ?? 150),
        ...(process.env.PROTOCOL_SEED ? { seed: Number(process.env.PROTOCOL_SEED) } : {}),
      },
    );
  });

  test('a refused Parse of a used name leaves the old statement: the next batch runs the old one', async () => {
    await runPipeline(db, [
      { k: 'parse', name: 'a', sql: 'ok' },
      { k: 'sync' },
      { k: 'parse', name: 'a', sql: 'ok' }, // refused: "a" exists
      { k: 'sync' },
      { k: 'bind', portal: '', stmt: 'a' },
      { k: 'execute', portal: '', max: 0 },
    ]);
  });

  test('a Bind the server refuses keeps the unnamed portal it had, which ROLLBACK TO SAVEPOINT brings back', async () => {
    await runPipeline(db, [
      { k: 'query', q: 'begin' },
      { k: 'parse', name: '', sql: 'ok' },
      { k: 'bind', portal: '', stmt: '' },
      { k: 'sync' },
      { k: 'parse', name: '', sql: 'savepoint' },
      { k: 'bind', portal: 'p', stmt: '' },
      { k: 'execute', portal: 'p', max: 0 },
      { k: 'sync' },
      { k: 'bind', portal: '', stmt: 'b' }, // no statement "b": refused before the portal is made
      { k: 'sync' },
      { k: 'parse', name: '', sql: 'rollback-to' },
      { k: 'close', what: 'P', name: 'p' },
      { k: 'bind', portal: 'p', stmt: '' },
      { k: 'execute', portal: 'p', max: 0 },
      { k: 'sync' },
      { k: 'execute', portal: '', max: 0 },
    ]);
  });

  test('a failed unnamed Parse drops the unnamed statement; Flush without Sync; portals end with the transaction', async () => {
    await runPipeline(db, [
      { k: 'parse', name: '', sql: 'ok' },
      { k: 'sync' },
      { k: 'parse', name: '', sql: 'bad' },
      { k: 'sync' },
      { k: 'bind', portal: '', stmt: '' },
      { k: 'flush' },
      { k: 'query', q: 'begin' },
      { k: 'parse', name: 'b', sql: 'rows' },
      { k: 'bind', portal: 'p', stmt: 'b' },
      { k: 'execute', portal: 'p', max: 1 },
      { k: 'sync' },
      { k: 'execute', portal: 'p', max: 1 },
      { k: 'query', q: 'commit' },
      { k: 'execute', portal: 'p', max: 1 },
    ]);
  });
});
