// A legal Bind with 32,768 or more parameters (PostgreSQL takes up to 65,535) through a real
// gateway with the built-in default masking. Its counts are unsigned 16-bit; read signed, the
// parameter count turns negative, the parameters are skipped as if there were none, and the
// result-format codes are read out of the first parameter's bytes, which the client chose. Then
// masking decides text versus binary from data the client controls. Each case below asks for
// results in one format while its first parameter's bytes spell the other, and checks the bytes
// the client actually gets: the secret masked, the value well-formed in the format asked for.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseBindResultFormats } from '../../proxy/masking/plan.js';
import { FieldError } from '../../proxy/wire/reader.js';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { cstr, int16, int32, message, RawClient } from '../helpers/raw-client.js';

const SECRET = 'person.secret@example.org';
const SQL = `SELECT ARRAY['reach me at ${SECRET}']::text[] AS contacts`;
const N = 40_000; // >= 0x8000: negative if read as int16
const TEXT_OID = 25;

/** A count as on the wire: unsigned 16-bit. */
function uint16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

let db: TestPostgres;
let gw: TestGateway;

before(async () => {
  db = await startPostgres({ version: 18 });
  gw = await startGateway(db); // the built-in default policy: masking by the default detectors
});

after(async () => {
  await gw?.stop();
  await db?.stop();
});

/** Parse declaring N text parameters (the statement uses none: PostgreSQL accepts that). */
function parseMany(name: string): Buffer {
  return message('P', cstr(name), cstr(SQL), uint16(N), ...Array.from({ length: N }, () => int32(TEXT_OID)));
}

/**
 * Bind of N parameters: the first one `first` (its length's bytes are what a signed reader takes
 * for the result-format count and codes), the others NULL; then the real result formats.
 */
function bindMany(statement: string, first: Buffer, resultFormats: number[]): Buffer {
  const params = [int32(first.length), first, ...Array.from({ length: N - 1 }, () => int32(-1))];
  return message(
    'B',
    cstr(''),
    cstr(statement),
    int16(0),
    uint16(N),
    ...params,
    int16(resultFormats.length),
    ...resultFormats.map(int16),
  );
}

/** A one-dimensional binary text[] (array_send): its elements, checking every length adds up. */
function binaryTextArray(v: Buffer): string[] {
  assert.ok(v.length >= 20, 'binary array header');
  assert.equal(v.readInt32BE(0), 1, 'ndim');
  assert.equal(v.readUInt32BE(8), TEXT_OID, 'element type');
  const n = v.readInt32BE(12);
  assert.equal(v.readInt32BE(16), 1, 'lower bound');
  const out: string[] = [];
  let p = 20;
  for (let i = 0; i < n; i++) {
    const len = v.readInt32BE(p);
    p += 4;
    assert.ok(len >= 0 && p + len <= v.length, `element ${i} length ${len} within the value`);
    out.push(v.toString('utf8', p, p + len));
    p += len;
  }
  assert.equal(p, v.length, 'the array is exactly its elements');
  return out;
}

/** The one value of the one DataRow in `rows`. */
function onlyValue(rows: { body: Buffer }[]): Buffer {
  assert.equal(rows.length, 1);
  const b = rows[0].body;
  assert.equal(b.readUInt16BE(0), 1);
  const len = b.readInt32BE(2);
  assert.equal(6 + len, b.length, 'DataRow is exactly its value');
  return b.subarray(6);
}

async function run(bind: Buffer, statement: string) {
  const c = await RawClient.connect(gw.host, gw.port);
  try {
    await c.login({ user: AGENT.name, password: AGENT.password });
    // Describe the statement first and wait for the answer, as drivers do: then the gateway
    // knows the statement's columns when the Execute passes, and plans the portal from them and
    // the Bind's result formats (it describes the portal itself only when it knows nothing).
    const describe = message('D', Buffer.from('S'), cstr(statement));
    c.write(Buffer.concat([parseMany(statement), describe, message('S')]));
    const described = await c.result(60_000);
    assert.deepEqual(described.errors, []);
    assert.ok(described.messages.some((m) => m.type === 'T'));
    c.write(Buffer.concat([bind, message('E', cstr(''), int32(0)), message('S')]));
    const r = await c.result(60_000);
    assert.deepEqual(r.errors, [], 'no error');
    assert.deepEqual(r.tags, ['SELECT 1']);
    // The session goes on.
    assert.deepEqual((await c.query('SELECT 1')).tags, ['SELECT 1']);
    return r;
  } finally {
    await c.end();
  }
}

describe('Bind with 32,768 or more parameters: result formats read as PostgreSQL reads them', () => {
  test('parseBindResultFormats on a real Bind of 40,000 parameters', () => {
    // First parameter's length 0x00010001: read signed, that is "1 format code: binary".
    const spellsBinary = bindMany('s', Buffer.alloc(0x10001, 0x78), []);
    assert.deepEqual(parseBindResultFormats(spellsBinary, 0, spellsBinary.length), []);
    // First parameter's length 0: read signed, that is "no format codes: text".
    const spellsText = bindMany('s', Buffer.alloc(0), [1]);
    assert.deepEqual(parseBindResultFormats(spellsText, 0, spellsText.length), [1]);
    // 65,535 announced (the count at 10: after the header, "\0s\0" and the format count), 40,000
    // sent: the reader runs out of message, whatever the bytes after the parameters say.
    const short = bindMany('s', Buffer.alloc(0), [0, 1]);
    short.writeUInt16BE(0xffff, 10);
    assert.throws(() => parseBindResultFormats(short, 0, short.length), FieldError);
  });

  test('binary results asked for, the parameter bytes spell text: a masked, well-formed binary array', async () => {
    const r = await run(bindMany('bin', Buffer.alloc(0), [1]), 'bin');
    const v = onlyValue(r.rows);
    assert.ok(!v.includes(SECRET), 'the secret reached the client');
    const [element] = binaryTextArray(v);
    assert.ok(element.startsWith('reach me at '), element);
    assert.notEqual(element, `reach me at ${SECRET}`);
  });

  test('text results asked for, the parameter bytes spell binary: a masked text array', async () => {
    const r = await run(bindMany('txt', Buffer.alloc(0x10001, 0x78), []), 'txt');
    const v = onlyValue(r.rows).toString('utf8');
    assert.ok(!v.includes(SECRET), 'the secret reached the client');
    assert.match(v, /^\{"reach me at [^"]+"\}$/);
  });
});
