import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { md5PasswordResponse } from '../../proxy/auth/md5.js';

const md5hex = (data: Buffer | string): string => createHash('md5').update(data).digest('hex');

test('PostgreSQL docs example: user joe, password xyzzy (stored hash md5 of "xyzzyjoe")', () => {
  // https://www.postgresql.org/docs/current/catalog-pg-authid.html: rolpassword = 'md5' || md5('xyzzyjoe').
  // Known answers computed outside Node (Python hashlib).
  assert.equal(md5hex('xyzzyjoe'), 'b5f5ba1a423792b526f799ae4eb3d59e');
  const salt = Buffer.from([1, 2, 3, 4]);
  assert.equal(md5PasswordResponse('joe', 'xyzzy', salt), 'md50294edcb6958936c57fb369e6ecb6be1');
});

test('non-ASCII user and password are hashed as UTF-8', () => {
  const salt = Buffer.from('deadbeef', 'hex');
  assert.equal(md5PasswordResponse('ünïcode', 'pässwörd', salt), 'md5cbe7fe0b45865215875135b8e5093684');
});

test('property: matches the protocol formula md5(hex(md5(password || user)) || salt)', () => {
  fc.assert(
    fc.property(
      fc.string(),
      fc.string(),
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      (user, password, s) => {
        const salt = Buffer.from(s);
        const inner = md5hex(Buffer.from(password + user, 'utf8'));
        const expected = `md5${md5hex(Buffer.concat([Buffer.from(inner), salt]))}`;
        const got = md5PasswordResponse(user, password, salt);
        assert.equal(got, expected);
        assert.match(got, /^md5[0-9a-f]{32}$/);
      },
    ),
  );
});
