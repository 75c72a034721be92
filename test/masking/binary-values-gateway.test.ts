// Binary arrays and records of masked values, end to end through a real gateway: a client asks
// for binary results (as drivers do for arrays), the gateway rewrites them element by element
// (column rules and the detectors, at every depth), and what comes back is well-formed
// (array_recv / record_recv accept it: each value is sent back to PostgreSQL as a binary
// parameter), masked, and the same shape as what PostgreSQL sent: dimensions, lower bounds, NULL
// elements, field counts.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { cstr, int16, int32, message, RawClient } from '../helpers/raw-client.js';
import { type Decoded, decodeBinary, leaves } from './binary.js';

const SECRET = 'hidden.person@example.org';
const OTHER = 'second.contact@example.net';
const SSN = '812-34-5678';

let db: TestPostgres;
let gw: TestGateway;

before(async () => {
  db = await startPostgres({ version: 18 });
  const admin = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
  });
  await admin.connect();
  await admin.query(`
    CREATE TYPE contact AS (kind text, address text, tags text[]);
    CREATE TABLE people (
      id int PRIMARY KEY,
      emails text[],          -- detectors, element by element
      grid text[],            -- a 2-D array with NULLs and lower bounds, under a hash rule
      amounts numeric[],      -- partial rule
      card contact,           -- a record with a nested array, detectors
      cards contact[]         -- an array of records, detectors
    );
    INSERT INTO people VALUES (
      1,
      ARRAY['${SECRET}', NULL, 'plain text', 'write to ${OTHER}'],
      '[0:1][-2:0]={{${SECRET},NULL,x},{NULL,${SSN},y}}',
      ARRAY[1234.56, NULL, -0.5, 'NaN'],
      ROW('mail', '${SECRET}', ARRAY['ok', '${OTHER}', NULL])::contact,
      ARRAY[ROW('mail', '${SECRET}', NULL)::contact, NULL, ROW('ssn', '${SSN}', ARRAY['${OTHER}'])::contact]
    );`);
  await admin.end();
  gw = await startGateway(db, {
    identities: [
      { name: AGENT.name, password: AGENT.password, oidc: null, connections: ['app'], policy: 'pii' },
    ],
    policies: {
      pii: {
        masking: [
          { name: 'grid', columns: ['public.people.grid'], strategy: 'hash' },
          { name: 'amounts', columns: ['public.people.amounts'], strategy: 'partial' },
          { name: 'detectors', detect: ['email', 'ssn'], strategy: 'partial' },
        ],
      },
    },
  });
});

after(async () => {
  await gw?.stop();
  await db?.stop();
});

const COLS = ['emails', 'grid', 'amounts', 'card', 'cards'] as const;
const TYPES = ['text[]', 'text[]', 'numeric[]', 'contact', 'contact[]'];
const KINDS = ['array', 'array', 'array', 'record', 'array'] as const;

/** The values of the one row, in binary, as `c` gets them (extended protocol, binary results). */
async function binaryRow(c: RawClient): Promise<Buffer[]> {
  c.write(
    Buffer.concat([
      message('P', cstr(''), cstr(`SELECT ${COLS.join(', ')} FROM people WHERE id = 1`), int16(0)),
      message('B', cstr(''), cstr(''), int16(0), int16(0), int16(1), int16(1)),
      message('D', Buffer.from('P'), cstr('')),
      message('E', cstr(''), int32(0)),
      message('S'),
    ]),
  );
  const r = await c.result(60_000);
  assert.deepEqual(r.errors, []);
  assert.equal(r.rows.length, 1);
  const body = r.rows[0].body;
  const out: Buffer[] = [];
  let p = 2;
  for (let i = 0; i < body.readUInt16BE(0); i++) {
    const len = body.readInt32BE(p);
    p += 4;
    assert.ok(len >= 0, `${COLS[i]} is not NULL`);
    out.push(body.subarray(p, p + len));
    p += len;
  }
  assert.equal(p, body.length, 'the DataRow is exactly its values');
  return out;
}

/** The shape of a decoded value: dimensions and which leaves are NULL, at every depth. */
function shape(d: Decoded | Buffer | null): unknown {
  if (d === null) return null;
  if (Buffer.isBuffer(d)) return 'v';
  if ('array' in d) return { dims: d.array.dims, elemOid: d.array.elemOid, elems: d.array.elems.map(shape) };
  return d.record.map((f) => ({ oid: f.oid, value: shape(f.value) }));
}

/** PostgreSQL's receive functions must accept each value (sent back as binary parameters). */
async function acceptedByPostgres(c: RawClient, values: Buffer[]): Promise<(string | null)[]> {
  c.write(
    Buffer.concat([
      message(
        'P',
        cstr(''),
        cstr(`SELECT ${TYPES.map((t, i) => `$${i + 1}::${t}::text`).join(', ')}`),
        int16(0),
      ),
      message(
        'B',
        cstr(''),
        cstr(''),
        int16(1),
        int16(1),
        int16(values.length),
        ...values.flatMap((v) => [int32(v.length), v]),
        int16(0),
      ),
      message('E', cstr(''), int32(0)),
      message('S'),
    ]),
  );
  const r = await c.result(60_000);
  assert.deepEqual(r.errors, [], JSON.stringify(r.errors));
  const body = r.rows[0].body;
  const out: (string | null)[] = [];
  let p = 2;
  for (let i = 0; i < values.length; i++) {
    const len = body.readInt32BE(p);
    p += 4;
    out.push(len < 0 ? null : body.toString('utf8', p, p + len));
    if (len > 0) p += len;
  }
  return out;
}

describe('binary arrays and records of masked values through the gateway', () => {
  test('well-formed, masked at every depth, the same shape as PostgreSQL sent', async () => {
    const direct = await RawClient.connect(db.host, db.port);
    const c = await RawClient.connect(gw.host, gw.port);
    try {
      await direct.login({ user: db.user, password: db.password, database: db.database });
      await c.login({ user: AGENT.name, password: AGENT.password });
      const raw = await binaryRow(direct);
      const masked = await binaryRow(c);
      assert.ok(Buffer.concat(raw).includes(SECRET), 'PostgreSQL sends the secret');
      const all = Buffer.concat(masked).toString('latin1');
      for (const s of [SECRET, OTHER, SSN]) assert.ok(!all.includes(s), `${s} reached the client`);
      for (let i = 0; i < COLS.length; i++) {
        const before = decodeBinary(KINDS[i], raw[i]);
        const afterMasking = decodeBinary(KINDS[i], masked[i]); // strict: throws if malformed
        assert.deepEqual(shape(afterMasking), shape(before), `${COLS[i]} keeps its shape`);
      }
      // What each column became, leaf by leaf.
      assert.deepEqual(leaves(decodeBinary('array', masked[0])), [
        'h***@example.org',
        null,
        'plain text',
        'write to s***@example.net',
      ]);
      const grid = leaves(decodeBinary('array', masked[1]));
      assert.deepEqual(
        grid.map((v) => v === null),
        [false, true, false, true, false, false],
      );
      for (const v of grid) if (v !== null) assert.match(v, /^[0-9a-f]{16}$/);
      assert.deepEqual(leaves(decodeBinary('record', masked[3])).slice(1), [
        'h***@example.org',
        'ok',
        's***@example.net',
        null,
      ]);
      // PostgreSQL accepts every value back, and reads the masked values in them.
      const back = await acceptedByPostgres(direct, masked);
      assert.equal(back[2], '{1000.00,NULL,-0.5,NaN}');
      assert.equal(back[3], '(mail,h***@example.org,"{ok,s***@example.net,NULL}")');
      assert.match(back[4] ?? '', /^\{"\(mail,h\*\*\*@example\.org,\)",NULL,"\(ssn,\*\*\*-\*\*-5678,/);
      assert.match(back[1] ?? '', /^\[0:1\]\[-2:0\]=\{\{[0-9a-f]{16},NULL,[0-9a-f]{16}\},\{NULL,/);
      // The session goes on.
      assert.deepEqual((await c.query('SELECT 1')).tags, ['SELECT 1']);
    } finally {
      await direct.end();
      await c.end();
    }
  });
});
