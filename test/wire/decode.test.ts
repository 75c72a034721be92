import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { backendTypeName, decodeFrame, frontendTypeName } from '../../proxy/wire/decode.js';

// Hand-made encoders: the tests build bodies byte by byte, independent of the gateway's builders.
const i16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const i32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const cs = (s: string) => Buffer.from(`${s}\0`);
const body = (...parts: (Buffer | string)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
/** Error/Notice fields from "|"-separated "Xvalue" items (X = field code; no terminating zero). */
const errBody = (items: string) => body(...items.split('|').flatMap((w) => [w[0], cs(w.slice(1))]));
const T = (c: string) => c.charCodeAt(0);
const client = (t: string | number, b: Buffer) => decodeFrame('client', typeof t === 'number' ? t : T(t), b);
const server = (t: string | number, b: Buffer) => decodeFrame('server', typeof t === 'number' ? t : T(t), b);

describe('startup packets', () => {
  test('StartupMessage 3.0 and 3.2', () => {
    const params = body(
      cs('user'),
      cs('agent-1'),
      cs('database'),
      cs('appdb'),
      cs('__proto__'),
      cs('x'),
      '\0',
    );
    assert.deepEqual(client(0, body(i32(196608), params)), {
      type: 'StartupMessage',
      decoded: {
        protocol: '3.0',
        parameters: Object.fromEntries([
          ['user', 'agent-1'],
          ['database', 'appdb'],
          ['__proto__', 'x'],
        ]),
      },
    });
    assert.equal(client(0, body(i32(196610), cs('user'), cs('u'), '\0')).decoded.protocol, '3.2');
  });
  test('SSLRequest, GSSENCRequest, CancelRequest', () => {
    assert.deepEqual(client(0, i32(80877103)), { type: 'SSLRequest', decoded: {} });
    assert.deepEqual(client(0, i32(80877104)), { type: 'GSSENCRequest', decoded: {} });
    const key32 = Buffer.alloc(32, 0xab);
    assert.deepEqual(client(0, body(i32(80877102), i32(4242), key32)), {
      type: 'CancelRequest',
      decoded: { pid: 4242, key: key32.toString('hex') },
    });
  });
  test('unknown code and truncated packet', () => {
    assert.equal(client(0, i32(1234)).type, 'Unknown');
    assert.deepEqual(client(0, body(i32(196608), cs('user'))), {
      type: 'StartupMessage',
      decoded: { malformed: true, length: 9 },
    });
  });
});

describe('frontend messages', () => {
  test('Query, Parse, Describe, Execute, Close, Sync, Flush, Terminate', () => {
    assert.deepEqual(client('Q', cs('select 1')), { type: 'Query', decoded: { sql: 'select 1' } });
    assert.deepEqual(client('P', body(cs('s1'), cs('select $1, $2'), i16(2), u32(23), u32(4294967295))), {
      type: 'Parse',
      decoded: { name: 's1', sql: 'select $1, $2', paramTypes: [23, 4294967295] },
    });
    assert.deepEqual(client('D', body('S', cs('s1'))).decoded, { target: 'statement', name: 's1' });
    assert.deepEqual(client('D', body('P', cs(''))).decoded, { target: 'portal', name: '' });
    assert.deepEqual(client('E', body(cs('p'), i32(10))), {
      type: 'Execute',
      decoded: { portal: 'p', maxRows: 10 },
    });
    assert.deepEqual(client('C', body('S', cs('s1'))), {
      type: 'Close',
      decoded: { target: 'statement', name: 's1' },
    });
    for (const [t, name] of [
      ['S', 'Sync'],
      ['H', 'Flush'],
      ['X', 'Terminate'],
      ['c', 'CopyDone'],
    ]) {
      assert.deepEqual(client(t, Buffer.alloc(0)), { type: name, decoded: {} });
    }
  });
  test('Bind: text, binary and null params, format rules', () => {
    const b = body(cs('p1'), cs('s1'), i16(2), i16(0), i16(1), i16(3));
    const params = body(i32(3), '123', i32(4), i32(7), i32(-1), i16(1), i16(1));
    assert.deepEqual(client('B', body(b, params)), {
      type: 'Bind',
      decoded: {
        portal: 'p1',
        statement: 's1',
        paramFormats: [0, 1],
        params: ['123', '\\x00000007', null],
        resultFormats: [1],
      },
    });
    // One format code applies to every parameter.
    const allBinary = body(cs(''), cs(''), i16(1), i16(1), i16(2), i32(1), Buffer.from([1]), i32(0), i16(0));
    assert.deepEqual(client('B', allBinary).decoded.params, ['\\x01', '\\x']);
  });
  test('CopyData text, binary preview, CopyFail', () => {
    assert.deepEqual(client('d', Buffer.from('1\tone\n')), {
      type: 'CopyData',
      decoded: { length: 6, text: '1\tone\n' },
    });
    const bin = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(500)]);
    const d = client('d', bin).decoded;
    assert.equal(d.length, 511);
    assert.equal((d.hex as string).length, 512);
    assert.equal(d.truncated, true);
    assert.deepEqual(client('f', cs('aborted')), { type: 'CopyFail', decoded: { message: 'aborted' } });
  });
  test('FunctionCall', () => {
    const b = body(u32(1598), i16(1), i16(1), i16(2), i32(4), i32(9), i32(-1), i16(0));
    assert.deepEqual(client('F', b), {
      type: 'FunctionCall',
      decoded: { functionOid: 1598, argFormats: [1], args: ['\\x00000009', null], resultFormat: 0 },
    });
  });
  test('PasswordMessage is shown redacted', () => {
    assert.deepEqual(client('p', Buffer.from('SASLInitialResponse SCRAM-SHA-256 (redacted)')), {
      type: 'PasswordMessage',
      decoded: { redacted: true, note: 'SASLInitialResponse SCRAM-SHA-256 (redacted)' },
    });
  });
});

describe('backend messages', () => {
  test('Authentication subtypes', () => {
    assert.deepEqual(server('R', i32(0)), { type: 'AuthenticationOk', decoded: {} });
    assert.deepEqual(server('R', i32(3)), { type: 'AuthenticationCleartextPassword', decoded: {} });
    assert.deepEqual(server('R', body(i32(5), Buffer.from([1, 2, 3, 4]))), {
      type: 'AuthenticationMD5Password',
      decoded: { salt: '01020304' },
    });
    assert.deepEqual(server('R', body(i32(10), cs('SCRAM-SHA-256-PLUS'), cs('SCRAM-SHA-256'), '\0')), {
      type: 'AuthenticationSASL',
      decoded: { mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] },
    });
    assert.deepEqual(server('R', body(i32(11), 'r=abc,s=c2FsdA==,i=4096')).decoded, {
      data: 'r=abc,s=c2FsdA==,i=4096',
    });
    assert.equal(server('R', body(i32(12), 'v=xyz')).type, 'AuthenticationSASLFinal');
    assert.equal(server('R', body(i32(99))).type, 'Authentication');
    assert.deepEqual(server('R', Buffer.from([0])).decoded, { malformed: true, length: 1 });
  });
  test('BackendKeyData 3.0 and 3.2', () => {
    assert.deepEqual(server('K', body(i32(77), i32(0x01020304))).decoded, { pid: 77, key: '01020304' });
    const long = Buffer.alloc(32, 0xcd);
    assert.deepEqual(server('K', body(i32(77), long)).decoded, { pid: 77, key: long.toString('hex') });
  });
  test('ParameterStatus, ReadyForQuery, CommandComplete, EmptyQueryResponse', () => {
    assert.deepEqual(server('S', body(cs('TimeZone'), cs('UTC'))).decoded, {
      name: 'TimeZone',
      value: 'UTC',
    });
    assert.deepEqual(server('Z', Buffer.from('T')), { type: 'ReadyForQuery', decoded: { status: 'T' } });
    assert.deepEqual(server('C', cs('SELECT 3')), { type: 'CommandComplete', decoded: { tag: 'SELECT 3' } });
    assert.deepEqual(server('I', Buffer.alloc(0)), { type: 'EmptyQueryResponse', decoded: {} });
  });
  test('RowDescription and DataRow', () => {
    const rd = body(i16(2), cs('id'), u32(16384), i16(1), u32(23), i16(4), i32(-1), i16(0));
    const rd2 = body(cs('email'), u32(16384), i16(2), u32(25), i16(-1), i32(-1), i16(1));
    assert.deepEqual(server('T', body(rd, rd2)).decoded, {
      fields: [
        { name: 'id', tableOid: 16384, columnAttr: 1, typeOid: 23, typeSize: 4, typeMod: -1, format: 0 },
        { name: 'email', tableOid: 16384, columnAttr: 2, typeOid: 25, typeSize: -1, typeMod: -1, format: 1 },
      ],
    });
    const row = body(i16(4), i32(2), '42', i32(-1), i32(4), i32(1), i32(5), 'héé');
    assert.deepEqual(server('D', row), {
      type: 'DataRow',
      decoded: { values: ['42', null, '\\x00000001', 'héé'], hexFields: [2] },
    });
    assert.deepEqual(server('D', body(i16(1), i32(2), Buffer.from([0xff, 0xfe]))).decoded, {
      values: ['\\xfffe'],
      hexFields: [0],
    });
    assert.deepEqual(server('D', body(i16(1), i32(5), 'ab')).decoded, { malformed: true, length: 8 });
  });
  test('ErrorResponse and NoticeResponse', () => {
    const fields = errBody('SERROR|VERROR|C42P01|Mrelation "x" does not exist|P15|Fparse_relation.c|L1449');
    const more = errBody('RparserOpenTable|Zodd');
    assert.deepEqual(server('E', body(fields, more, '\0')), {
      type: 'ErrorResponse',
      decoded: {
        severity: 'ERROR',
        severityNonLocalized: 'ERROR',
        code: '42P01',
        message: 'relation "x" does not exist',
        position: '15',
        file: 'parse_relation.c',
        line: '1449',
        routine: 'parserOpenTable',
        Z: 'odd',
      },
    });
    const n = errBody('SNOTICE|C00000|Mhi|Dd|Hh|Ww|spublic|tt|cc|dint4|npk');
    assert.deepEqual(server('N', body(n, '\0')).decoded, {
      severity: 'NOTICE',
      code: '00000',
      message: 'hi',
      detail: 'd',
      hint: 'h',
      where: 'w',
      schema: 'public',
      table: 't',
      column: 'c',
      dataType: 'int4',
      constraint: 'pk',
    });
  });
  test('completions, ParameterDescription, COPY responses', () => {
    for (const [t, name] of [
      ['1', 'ParseComplete'],
      ['2', 'BindComplete'],
      ['3', 'CloseComplete'],
      ['n', 'NoData'],
      ['s', 'PortalSuspended'],
      ['c', 'CopyDone'],
    ]) {
      assert.deepEqual(server(t, Buffer.alloc(0)), { type: name, decoded: {} });
    }
    assert.deepEqual(server('1', Buffer.from([1])).decoded, { malformed: true, length: 1 });
    assert.deepEqual(server('t', body(i16(2), u32(23), u32(25))).decoded, { typeOids: [23, 25] });
    assert.deepEqual(server('G', body(Buffer.from([0]), i16(2), i16(0), i16(0))), {
      type: 'CopyInResponse',
      decoded: { format: 'text', columnFormats: [0, 0] },
    });
    assert.equal(server('H', body(Buffer.from([1]), i16(0))).decoded.format, 'binary');
    assert.equal(server('W', body(Buffer.from([0]), i16(0))).type, 'CopyBothResponse');
    assert.deepEqual(server('d', Buffer.from('a,b\n')).decoded, { length: 4, text: 'a,b\n' });
  });
  test('NotificationResponse, FunctionCallResponse, NegotiateProtocolVersion', () => {
    assert.deepEqual(server('A', body(i32(9), cs('chan'), cs('payload'))).decoded, {
      pid: 9,
      channel: 'chan',
      payload: 'payload',
    });
    assert.deepEqual(server('V', body(i32(2), 'ok')).decoded, { result: 'ok' });
    assert.deepEqual(server('V', i32(-1)).decoded, { result: null });
    assert.deepEqual(server('v', body(i32(0), i32(1), cs('_pq_.compression'))), {
      type: 'NegotiateProtocolVersion',
      decoded: { minorVersion: 0, unrecognized: ['_pq_.compression'] },
    });
  });
  test('unknown type bytes', () => {
    assert.deepEqual(server('x', Buffer.alloc(3)), { type: 'Unknown', decoded: { byte: T('x'), length: 3 } });
    assert.deepEqual(client('Z', Buffer.alloc(1)), { type: 'Unknown', decoded: { byte: T('Z'), length: 1 } });
  });
});

test('type names', () => {
  assert.equal(frontendTypeName(T('B')), 'Bind');
  assert.equal(frontendTypeName(0), 'StartupMessage');
  assert.equal(backendTypeName(T('D')), 'DataRow');
  assert.equal(frontendTypeName(T('D')), 'Describe');
  assert.equal(backendTypeName(T('?')), 'Unknown');
});

test('random bodies never throw and stay JSON-serialisable', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<'client' | 'server'>('client', 'server'),
      fc.integer({ min: 0, max: 255 }),
      fc.uint8Array({ maxLength: 64 }),
      (dir, type, bytes) => {
        const out = decodeFrame(dir, type, Buffer.from(bytes));
        assert.equal(typeof out.type, 'string');
        JSON.stringify(out);
      },
    ),
    { numRuns: 20000 },
  );
});

test('every type byte with random bodies built from plausible pieces', () => {
  // Random bytes rarely get past the first field; pieces of real messages reach deeper paths.
  const piece = fc.oneof(
    fc.constantFrom(i16(0), i16(1), i16(2), i16(-1), i32(-1), i32(0), i32(4), i32(196608), i32(80877102)),
    fc.string({ maxLength: 8 }).map(cs),
    fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a)),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.array(piece, { maxLength: 10 }), (type, parts) => {
      for (const dir of ['client', 'server'] as const)
        JSON.stringify(decodeFrame(dir, type, Buffer.concat(parts)));
    }),
    { numRuns: 20000 },
  );
});
