import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { saslprep, saslprepPassword } from '../../proxy/auth/saslprep.js';

test('RFC 4013 section 3 examples', () => {
  assert.equal(saslprep('I\u00adX'), 'IX'); // soft hyphen mapped to nothing
  assert.equal(saslprep('user'), 'user');
  assert.equal(saslprep('USER'), 'USER'); // no case folding
  assert.equal(saslprep('\u00aa'), 'a'); // NFKC
  assert.equal(saslprep('\u2168'), 'IX'); // NFKC
  assert.equal(saslprep('\u0627\u0031'), null); // bidi: RandALCat string must end with RandALCat
});

test('PostgreSQL quirk: pure ASCII passes through untouched, even control characters', () => {
  // RFC 4013 says U+0007 is prohibited; pg_saslprep() short-circuits ASCII, and we must agree with it.
  assert.equal(saslprep('\u0007'), '\u0007');
  assert.equal(saslprep(''), '');
});

test('mapping, prohibition and bidi rules', () => {
  assert.equal(saslprep('a\u00a0b\u3000c'), 'a b c'); // non-ASCII spaces -> SPACE
  assert.equal(saslprep('a\u200bb'), 'a b'); // U+200B is in both tables; PostgreSQL maps it to SPACE
  assert.equal(saslprep('a\ufeffb\u180bc'), 'abc');
  assert.equal(saslprep('\u00ad'), null); // empty after mapping
  assert.equal(saslprep('caf\u0065\u0301'), 'caf\u00e9'); // composed by NFKC
  assert.equal(saslprep('ｐａｓｓ'), 'pass'); // fullwidth -> ASCII
  assert.equal(saslprep('a\u0080'), null); // C.2.2 non-ASCII control
  assert.equal(saslprep('a\ue000'), null); // C.3 private use
  assert.equal(saslprep('a\ufdd0'), null); // C.4 non-character
  assert.equal(saslprep('a\u2ff0'), null); // C.7
  assert.equal(saslprep('a\u{e0041}'), null); // C.9 tagging
  assert.equal(saslprep('\u00e9\u0221'), null); // A.1 unassigned in Unicode 3.2
  assert.equal(saslprep('p\u00e4ss\u{1f600}'), null); // emoji did not exist in Unicode 3.2
  assert.equal(saslprep('\u0627\u0031\u0628'), '\u0627\u0031\u0628'); // RandALCat first and last, no LCat
  assert.equal(saslprep('\u0627a\u0628'), null); // mixes RandALCat and LCat
  assert.equal(saslprep('\ud800x\u00e9'), null); // lone surrogate: not valid UTF-8
});

test('saslprepPassword falls back to the raw UTF-8 bytes', () => {
  assert.deepEqual(saslprepPassword('\u2168'), Buffer.from('IX'));
  assert.deepEqual(saslprepPassword('p\u00e4ss\u{1f600}'), Buffer.from('p\u00e4ss\u{1f600}', 'utf8'));
  assert.deepEqual(saslprepPassword('plain'), Buffer.from('plain'));
});

test('PostgreSQL quirk: prohibition and bidi checks look at the text before NFKC', () => {
  // U+2135 ALEF SYMBOL is bidi L, but NFKC turns it into U+05D0 HEBREW LETTER ALEF (R). PostgreSQL
  // accepts it next to an L character, so the output is not itself a valid SASLprep input.
  assert.equal(saslprep('\u00e9\u2135'), '\u00e9\u05d0');
  assert.equal(saslprep('\u00e9\u05d0'), null);
});

test('property: never throws; output is NFKC normalized', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 32 }), (s) => {
      const out = saslprep(s);
      if (out !== null) assert.equal(out, out.normalize('NFKC'));
    }),
    { numRuns: 2000 },
  );
});
