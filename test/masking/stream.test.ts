// MaskingStream on synthetic frames: statement tracking in simple and extended protocol, the
// injected Describe and its swallowed answer, pipelined errors, COPY, fail-closed cases.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { MaskCatalog } from '../../proxy/masking/catalog.js';
import { compileMasking } from '../../proxy/masking/compile.js';
import { MaskingPipe } from '../../proxy/masking/pipe.js';
import { MaskError } from '../../proxy/masking/plan.js';
import { parseMaskingRules } from '../../proxy/masking/rules.js';
import { REDACTED } from '../../proxy/masking/strategies.js';
import { describePortalMessage } from '../../proxy/masking/stream.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';
import {
  bindMessage,
  executeMessage,
  parseMessage,
  queryMessage,
  syncMessage,
} from '../helpers/raw-client.js';
import {
  copyData,
  copyOut,
  copyPayload,
  cstr,
  dataRow,
  errorResponse,
  message,
  notification,
  rowDescription,
  rowText,
} from './wire.js';

before(async () => {
  await initPolicyEngine();
});

const masking = compileMasking(
  parseMaskingRules(
    [{ name: 'pii', columns: ['public.customers.email'], strategy: 'redact' }, 'default'],
    'm',
  ),
  {
    hashKey: 'k'.repeat(32),
  },
);
const catalog = new MaskCatalog({ columns: masking.columns });
catalog.apply({
  relations: [
    ['100', 'public', 'customers', 'r', 'public', 'customers', '1', 'id', '23', '-1'],
    ['100', 'public', 'customers', 'r', 'public', 'customers', '2', 'email', '25', '-1'],
  ],
  views: [],
  types: [],
});

function stream(): MaskingPipe {
  return new MaskingPipe({ masking, catalog });
}
const C = (ms: MaskingPipe, m: Buffer) => ms.client(m[0], m, 0, m.length);
const S = (ms: MaskingPipe, m: Buffer, counts: Map<string, number> | null = null) =>
  ms.server(m[0], m, 0, m.length, counts);
const cc = (tag: string) => message('C', cstr(tag));
const rfq = () => message('Z', Buffer.from('I'));
const EMAIL_FIELD = { name: 'email', tableOid: 100, attnum: 2 };

describe('MaskingStream', () => {
  test('active unless the policy masks nothing', () => {
    assert.equal(stream().active, true);
    assert.equal(
      new MaskingPipe({ masking: compileMasking([], { hashKey: 'k'.repeat(32) }), catalog: null }).active,
      false,
    );
  });
  test('simple query, two statements: each RowDescription gets its plan', () => {
    const ms = stream();
    C(ms, queryMessage('SELECT lower(email) AS e FROM customers; SELECT 1 AS e'));
    assert.equal(S(ms, rowDescription([{ name: 'e' }])), null);
    assert.deepEqual(rowText(S(ms, dataRow(['ada@example.com'])) as Buffer), [REDACTED]);
    S(ms, cc('SELECT 1'));
    S(ms, rowDescription([{ name: 'e' }]));
    assert.equal(S(ms, dataRow(['plain'])), null);
    S(ms, cc('SELECT 1'));
    S(ms, rfq());
  });
  test('a statement never described: Describe injected before Execute, its answer swallowed', () => {
    const ms = stream();
    assert.equal(C(ms, parseMessage('', 'SELECT email FROM customers')), null);
    assert.equal(C(ms, bindMessage('', '', [])), null);
    const inject = C(ms, executeMessage(''));
    assert.deepEqual(inject, describePortalMessage(''));
    C(ms, syncMessage());
    assert.equal(S(ms, message('1')), null);
    assert.equal(S(ms, message('2')), null);
    assert.equal(S(ms, rowDescription([EMAIL_FIELD]))?.length, 0);
    const counts = new Map<string, number>();
    assert.deepEqual(rowText(S(ms, dataRow(['ada@example.com']), counts) as Buffer), [REDACTED]);
    assert.equal(counts.get('pii'), 1);
    S(ms, cc('SELECT 1'));
    S(ms, rfq());
    // Re-executed later without Describe: no injection, the plan is kept.
    C(ms, bindMessage('', '', []));
    assert.equal(C(ms, executeMessage('')), null);
    C(ms, syncMessage());
    S(ms, message('2'));
    assert.deepEqual(rowText(S(ms, dataRow(['bob@example.com'])) as Buffer), [REDACTED]);
  });
  test('an error skips the pipeline to Sync', () => {
    const ms = stream();
    C(ms, parseMessage('a', 'SELECT email FROM customers'));
    C(ms, message('D', Buffer.from('S'), cstr('a')));
    C(ms, bindMessage('', 'a', []));
    C(ms, executeMessage(''));
    C(ms, syncMessage());
    C(ms, queryMessage('SELECT email FROM customers'));
    S(ms, errorResponse('E', { S: 'ERROR', C: '42P01', M: 'nope' }));
    S(ms, rfq());
    S(ms, rowDescription([EMAIL_FIELD]));
    assert.deepEqual(rowText(S(ms, dataRow(['x@example.com'])) as Buffer), [REDACTED]);
  });
  test('a DataRow without a RowDescription fails closed', () => {
    const ms = stream();
    C(ms, parseMessage('', 'SELECT 1'));
    assert.throws(() => S(ms, dataRow(['x'])), MaskError);
  });
  test('COPY TO STDOUT in a simple query', () => {
    const ms = stream();
    C(ms, queryMessage('COPY (SELECT id, email FROM customers) TO STDOUT (FORMAT csv)'));
    assert.equal(S(ms, copyOut(0, [0, 0])), null);
    const out = S(ms, copyData('1,ada@example.com\n')) as Buffer;
    assert.equal(copyPayload(out).toString(), `1,${REDACTED}\n`);
    assert.equal(S(ms, message('c')), null);
    S(ms, cc('COPY 1'));
    S(ms, rfq());
  });
  test('DDL invalidates the catalog', () => {
    const cat = new MaskCatalog({ columns: masking.columns });
    cat.apply({ relations: [], views: [], types: [] });
    const ms = new MaskingPipe({ masking, catalog: cat });
    C(ms, queryMessage('CREATE VIEW v AS SELECT email FROM customers'));
    assert.equal(cat.fresh, true);
    S(ms, cc('CREATE VIEW'));
    assert.equal(cat.fresh, false);
  });
  test('notifications: redacted whole from a statement reading masked columns until idle, then detectors only', () => {
    const ms = stream();
    const payload = (out: Buffer | null, m: Buffer) => {
      const b = out ?? m;
      return b.toString('utf8', b.indexOf(0, 9) + 1, b.length - 1);
    };
    C(ms, queryMessage('BEGIN'));
    S(ms, cc('BEGIN'));
    S(ms, message('Z', Buffer.from('T')));
    C(ms, queryMessage("SELECT pg_notify('c', email) FROM customers"));
    S(ms, rowDescription([{ name: 'pg_notify', typeOid: 2278 }]));
    S(ms, cc('SELECT 1'));
    S(ms, message('Z', Buffer.from('T')));
    // COMMIT reads nothing masked: the notification it delivers was queued by the SELECT.
    C(ms, queryMessage('COMMIT'));
    S(ms, cc('COMMIT'));
    const n = notification(7, 'c', 'Ada Lovelace');
    assert.match(payload(S(ms, n), n), /^\[redacted by Bastion/);
    S(ms, rfq());
    // Idle: a later plain statement's payloads keep their text (detectors still apply).
    C(ms, queryMessage("SELECT pg_notify('c', 'hi')"));
    S(ms, cc('SELECT 1'));
    assert.equal(S(ms, n), null);
    const e = notification(7, 'c', 'to ada@example.com');
    assert.equal(payload(S(ms, e), e), 'to a***@example.com');
  });
});
