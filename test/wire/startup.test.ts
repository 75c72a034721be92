// parseStartupPacket: the untyped packets a client sends before a session starts.
// https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-STARTUPMESSAGE

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseStartupPacket, type StartupPacket, StartupParseError } from '../../proxy/wire/startup.js';

const i32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
};
const cs = (s: string) => Buffer.from(`${s}\0`, 'utf8');
const body = (...parts: Buffer[]) => Buffer.concat(parts);
/** The body of a StartupMessage (after the length field) for protocol 3.minor. */
const startup = (minor: number, pairs: [string, string][]) =>
  body(i32((3 << 16) | minor), ...pairs.flatMap(([k, v]) => [cs(k), cs(v)]), Buffer.from([0]));

const SSL = 80877103;
const GSSENC = 80877104;
const CANCEL = 80877102;

function parses(b: Buffer): StartupPacket {
  return parseStartupPacket(b);
}

function refuses(b: Buffer, message?: RegExp): void {
  assert.throws(
    () => parseStartupPacket(b),
    (e: unknown) => e instanceof StartupParseError && (message === undefined || message.test(e.message)),
    `refuses ${b.toString('hex')}`,
  );
}

describe('StartupMessage', () => {
  test('protocol 3.0 with ordinary parameters', () => {
    const p = parses(
      startup(0, [
        ['user', 'agent-1'],
        ['database', 'appdb'],
        ['application_name', 'psql'],
        ['options', '-c x=1'],
      ]),
    );
    assert.equal(p.kind, 'startup');
    if (p.kind !== 'startup') return;
    assert.equal(p.major, 3);
    assert.equal(p.minor, 0);
    assert.deepEqual(
      { ...p.params },
      { user: 'agent-1', database: 'appdb', application_name: 'psql', options: '-c x=1' },
    );
    assert.deepEqual(p.protocolOptions, []);
  });

  test('protocol 3.2, and newer minors are reported as asked (the session negotiates)', () => {
    for (const minor of [2, 3, 9, 0xffff]) {
      const p = parses(startup(minor, [['user', 'u']]));
      assert.ok(p.kind === 'startup' && p.major === 3 && p.minor === minor, `3.${minor}`);
    }
  });

  test('_pq_ protocol options are separated from parameters, in order', () => {
    const p = parses(
      startup(2, [
        ['_pq_.foo', '1'],
        ['user', 'u'],
        ['_pq_.bar', ''],
        ['database', 'd'],
      ]),
    );
    assert.ok(p.kind === 'startup');
    assert.deepEqual(p.protocolOptions, ['_pq_.foo', '_pq_.bar']);
    assert.deepEqual({ ...p.params }, { user: 'u', database: 'd' });
  });

  test('empty values, UTF-8, and names like __proto__ are plain data', () => {
    const p = parses(
      startup(0, [
        ['user', 'ü☃'],
        ['database', ''],
        ['__proto__', 'x'],
        ['constructor', 'y'],
      ]),
    );
    assert.ok(p.kind === 'startup');
    assert.equal(p.params.user, 'ü☃');
    assert.equal(p.params.database, '');
    assert.equal(Object.getPrototypeOf(p.params), null, 'no prototype to pollute');
    assert.equal(Object.getOwnPropertyDescriptor(p.params, '__proto__')?.value, 'x');
    assert.equal(p.params.constructor, 'y');
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  test('no parameters at all (just the terminator) is a valid packet', () => {
    const p = parses(startup(0, []));
    assert.ok(p.kind === 'startup' && Object.keys(p.params).length === 0);
  });
});

describe('SSLRequest, GSSENCRequest, CancelRequest', () => {
  test('SSL and GSSENC requests', () => {
    assert.deepEqual(parses(i32(SSL)), { kind: 'ssl' });
    assert.deepEqual(parses(i32(GSSENC)), { kind: 'gssenc' });
  });

  test('CancelRequest with a 4-byte key (3.0) and a 32-byte key (3.2)', () => {
    const k4 = Buffer.from([1, 2, 3, 4]);
    assert.deepEqual(parses(body(i32(CANCEL), i32(4242), k4)), { kind: 'cancel', pid: 4242, key: k4 });
    const k32 = Buffer.alloc(32, 0xab);
    const p = parses(body(i32(CANCEL), i32(2 ** 31 - 1), k32));
    assert.ok(p.kind === 'cancel');
    assert.equal(p.pid, 2 ** 31 - 1);
    assert.deepEqual(p.key, k32);
  });

  test('the cancel key is a copy, not a view of the packet', () => {
    const packet = body(i32(CANCEL), i32(7), Buffer.alloc(32, 1));
    const p = parses(packet);
    packet.fill(0);
    assert.ok(p.kind === 'cancel');
    assert.deepEqual(p.key, Buffer.alloc(32, 1));
  });

  test('cancel keys from 4 to 256 bytes pass; shorter or longer are refused', () => {
    assert.ok(parses(body(i32(CANCEL), i32(1), Buffer.alloc(256))).kind === 'cancel');
    refuses(body(i32(CANCEL), i32(1), Buffer.alloc(257)), /invalid cancel request/);
    refuses(body(i32(CANCEL), i32(1)), /invalid cancel request/);
    refuses(body(i32(CANCEL), i32(1), Buffer.alloc(3)), /invalid cancel request/);
    refuses(body(i32(CANCEL)), /invalid cancel request/);
  });
});

describe('malformed packets', () => {
  test('too short for a version code', () => {
    for (let n = 0; n < 4; n++) refuses(Buffer.alloc(n), /too short/);
  });

  test('unsupported major versions (1.0, 2.0, 4.0) and arbitrary codes', () => {
    refuses(startup(0, []).fill(0, 0, 4), /unsupported frontend protocol 0\.0/);
    refuses(
      body(i32((2 << 16) | 0), cs('user'), cs('u'), Buffer.from([0])),
      /unsupported frontend protocol 2\.0/,
    );
    refuses(body(i32((4 << 16) | 0), Buffer.from([0])), /unsupported frontend protocol 4\.0/);
    refuses(body(i32(0x12345678), Buffer.from([0])), /unsupported frontend protocol/);
    refuses(body(i32(-1), Buffer.from([0])), /unsupported frontend protocol/);
  });

  test('a missing terminator, a name without a value, trailing bytes', () => {
    refuses(i32(3 << 16), /not terminated/);
    refuses(body(i32(3 << 16), cs('user'), cs('u')), /not terminated/);
    // "user\0\0": the second NUL ends an empty value, and then the terminator is missing.
    refuses(body(i32(3 << 16), cs('user'), Buffer.from([0])), /not terminated/);
    refuses(body(i32(3 << 16), Buffer.from('user')), /layout/);
    refuses(body(i32(3 << 16), cs('user'), Buffer.from('u')), /layout/);
    refuses(body(startup(0, [['user', 'u']]), Buffer.from('x')), /layout/);
    refuses(body(startup(0, [['user', 'u']]), Buffer.from([0])), /layout/);
  });

  test('property: random bytes are parsed or refused with StartupParseError, nothing else', () => {
    const known = [SSL, GSSENC, CANCEL, 3 << 16, (3 << 16) | 2, (3 << 16) | 9];
    const arb = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      // Random bodies behind real codes reach the deeper parsing paths.
      fc
        .tuple(fc.constantFrom(...known), fc.uint8Array({ maxLength: 300 }))
        .map(([code, rest]) => body(i32(code), Buffer.from(rest))),
      // Mostly well-formed parameter lists with NULs in random places.
      fc
        .tuple(
          fc.array(fc.constantFrom('user', 'u', '', '_pq_.x', '\0', 'database'), { maxLength: 12 }),
          fc.boolean(),
        )
        .map(([parts, term]) =>
          body(i32(3 << 16), Buffer.from(parts.join('\0')), term ? Buffer.from([0]) : Buffer.alloc(0)),
        ),
    );
    fc.assert(
      fc.property(arb, (b) => {
        try {
          const p = parseStartupPacket(b);
          assert.ok(['ssl', 'gssenc', 'cancel', 'startup'].includes(p.kind));
        } catch (e) {
          assert.ok(
            e instanceof StartupParseError,
            `threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`,
          );
        }
      }),
      { numRuns: 5000 },
    );
  });

  test('property: a well-formed StartupMessage round-trips', () => {
    const name = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.includes('\0'));
    const value = fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.uniqueArray(
          fc.tuple(
            fc.oneof(
              name,
              name.map((n) => `_pq_.${n}`),
            ),
            value,
          ),
          { selector: ([k]) => k, maxLength: 10 },
        ),
        (minor, pairs) => {
          const p = parseStartupPacket(startup(minor, pairs));
          assert.ok(p.kind === 'startup');
          assert.equal(p.minor, minor);
          assert.deepEqual(
            p.protocolOptions,
            pairs.filter(([k]) => k.startsWith('_pq_.')).map(([k]) => k),
          );
          const expected = Object.fromEntries(pairs.filter(([k]) => !k.startsWith('_pq_.')));
          assert.deepEqual({ ...p.params }, { ...expected });
        },
      ),
      { numRuns: 1000 },
    );
  });
});
