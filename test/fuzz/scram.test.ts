// Fuzzing SCRAM-SHA-256 messages both ways: the gateway's server side (what any client, before
// logging in, can send it) and its client side (what an upstream server answers). The server never
// throws and never accepts a message it did not derive; the client only throws its own Error.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ScramClient } from '../../proxy/auth/scram-client.js';
import {
  makeScramVerifier,
  SCRAM_SHA_256,
  SCRAM_SHA_256_PLUS,
  ScramServerExchange,
} from '../../proxy/auth/scram-server.js';
import { bytesOf, corpus, fuzz, nastyBytes } from './harness.js';

const PASSWORD = 'fuzz-password';
const verifier = makeScramVerifier(PASSWORD, 2);
const binding = { type: 'tls-server-end-point' as const, data: Buffer.alloc(32, 9) };

/** SCRAM-looking text: attributes, separators and base64 in random order. */
const scramish = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        'n,,',
        'y,,',
        'p=tls-server-end-point,,',
        'n=',
        'r=',
        'c=',
        'p=',
        's=',
        'i=',
        'v=',
        'e=',
        'm=',
        'a=',
        ',',
        '=',
        '==',
      ),
      fc.string({ maxLength: 8 }),
      fc.base64String({ maxLength: 48 }),
    ),
    { maxLength: 10 },
  )
  .map((p) => Buffer.from(p.join(''), 'latin1'));
const garbage = fc.oneof(scramish, nastyBytes(96));

/** A real exchange up to the client's final message, which a test then alters. */
function realExchange(plus: boolean): { server: ScramServerExchange; final: Buffer } {
  const client = new ScramClient(PASSWORD, plus ? binding : undefined);
  client.mechanismFor(plus ? [SCRAM_SHA_256_PLUS, SCRAM_SHA_256] : [SCRAM_SHA_256]);
  const server = new ScramServerExchange(verifier, plus ? { channelBinding: binding } : {});
  const r1 = server.handleInitial(plus ? SCRAM_SHA_256_PLUS : SCRAM_SHA_256, client.clientFirst());
  assert.ok(r1.ok);
  return { server, final: client.clientFinal(r1.serverFirst) };
}

/** The same message without the proof, and a proof that decodes to the same 32 bytes. */
function sameProofMessage(a: Buffer, b: Buffer): boolean {
  const [sa, sb] = [a.toString('latin1'), b.toString('latin1')];
  const [pa, pb] = [sa.lastIndexOf(',p='), sb.lastIndexOf(',p=')];
  if (pb < 0 || sa.slice(0, pa) !== sb.slice(0, pb)) return false;
  const proofB = sb.slice(pb + 3);
  if (!/^[A-Za-z0-9+/]{43}=$/.test(proofB)) return false;
  return Buffer.from(sa.slice(pa + 3), 'base64').equals(Buffer.from(proofB, 'base64'));
}

describe('SCRAM messages', () => {
  test('corpus replay', () => {
    for (const e of corpus('scram')) {
      const b = bytesOf(e);
      const server = new ScramServerExchange(verifier, e.plus ? { channelBinding: binding } : {});
      if (e.step === 'first') {
        const r = server.handleInitial(String(e.mechanism ?? SCRAM_SHA_256), b);
        assert.equal(r.ok, e.ok, e.note);
      } else if (e.step === 'final') {
        const { server: s } = realExchange(false);
        assert.equal(s.handleFinal(b).ok, false, e.note);
      } else {
        const client = new ScramClient(PASSWORD);
        client.clientFirst();
        assert.throws(() => client.clientFinal(b), /^Error: SCRAM/, e.note);
      }
    }
  });

  test('server: garbage first and final messages never throw and never authenticate', (t) => {
    fuzz(
      t,
      fc.property(
        fc.constantFrom(SCRAM_SHA_256, SCRAM_SHA_256_PLUS, 'SCRAM-SHA-1', ''),
        garbage,
        garbage,
        fc.boolean(),
        (mech, first, final, plus) => {
          const server = new ScramServerExchange(verifier, plus ? { channelBinding: binding } : {});
          const r1 = server.handleInitial(mech, first);
          if (r1.ok)
            assert.equal(
              server.handleFinal(final).ok,
              false,
              'a final message not derived from the password',
            );
          else assert.equal(typeof r1.error, 'string');
        },
      ),
    );
  });

  test('server: a real client-final with any byte changed, cut or extended is refused', (t) => {
    fuzz(
      t,
      fc.property(
        fc.boolean(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.constantFrom('flip', 'cut', 'extend'),
        (plus, at, delta, how) => {
          const { server, final } = realExchange(plus);
          const i = at % final.length;
          let changed: Buffer;
          if (how === 'flip') {
            changed = Buffer.from(final);
            changed[i] = (changed[i] + delta) & 0xff;
          } else if (how === 'cut') changed = final.subarray(0, i);
          else changed = Buffer.concat([final, Buffer.from([delta])]);
          // Base64 has slack (the unused low bits of the last character): a change there leaves the
          // same proof, which proves the password as much as the original. Anything else must fail.
          const same = sameProofMessage(final, changed);
          assert.equal(
            server.handleFinal(changed).ok,
            same,
            same ? 'same proof refused' : 'an altered proof accepted',
          );
        },
      ),
    );
  });

  test('client: garbage from the server makes it throw its own Error, nothing else', (t) => {
    fuzz(
      t,
      fc.property(garbage, garbage, (first, final) => {
        const client = new ScramClient(PASSWORD);
        client.clientFirst();
        try {
          client.clientFinal(first);
        } catch (e) {
          assert.ok(e instanceof Error && e.message.startsWith('SCRAM'), String(e));
          return;
        }
        assert.throws(() => client.verifyServerFinal(final), /^Error: SCRAM/);
        assert.equal(client.verified, false);
      }),
    );
  });
});
