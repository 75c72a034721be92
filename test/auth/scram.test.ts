import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { ScramClient } from '../../proxy/auth/scram-client.js';
import {
  makeScramVerifier,
  SCRAM_SHA_256,
  SCRAM_SHA_256_PLUS,
  ScramServerExchange,
  type ScramServerOptions,
  type ScramVerifier,
} from '../../proxy/auth/scram-server.js';

// RFC 7677 section 3: user "user", password "pencil".
const RFC = {
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

const CB = {
  type: 'tls-server-end-point' as const,
  data: createHash('sha256').update('server cert').digest(),
};
const FAST = 2; // iterations for tests that do not care about cost

type Outcome = { ok: true } | { ok: false; error: string; stage: 'initial' | 'final' | 'client' };

/** Runs a whole exchange between our client and our server. */
function exchange(
  verifier: ScramVerifier | null,
  password: string,
  serverOpts: ScramServerOptions = {},
  clientCb?: typeof CB,
  offered?: string[],
): Outcome {
  const server = new ScramServerExchange(verifier, serverOpts);
  const client = new ScramClient(password, clientCb);
  const mechanism = client.mechanismFor(offered ?? server.mechanisms());
  assert.ok(mechanism);
  const first = server.handleInitial(mechanism, client.clientFirst());
  if (!first.ok) return { ...first, stage: 'initial' };
  const final = server.handleFinal(client.clientFinal(first.serverFirst));
  if (!final.ok) return { ...final, stage: 'final' };
  try {
    client.verifyServerFinal(final.serverFinal);
  } catch (err) {
    return { ok: false, error: (err as Error).message, stage: 'client' };
  }
  assert.equal(client.verified, true);
  return { ok: true };
}

test('RFC 7677 example: verifier, server messages', () => {
  const verifier = makeScramVerifier('pencil', 4096, RFC.salt);
  const server = new ScramServerExchange(verifier, { nonce: RFC.serverNonce });
  const first = server.handleInitial(SCRAM_SHA_256, Buffer.from(RFC.clientFirst));
  assert.ok(first.ok);
  assert.equal(first.serverFirst.toString(), RFC.serverFirst);
  const final = server.handleFinal(Buffer.from(RFC.clientFinal));
  assert.ok(final.ok);
  assert.equal(final.serverFinal.toString(), RFC.serverFinal);
});

test('RFC 7677 example: client messages', () => {
  const client = new ScramClient('pencil', undefined, { username: 'user', nonce: RFC.clientNonce });
  assert.equal(client.mechanismFor([SCRAM_SHA_256]), SCRAM_SHA_256);
  assert.equal(client.clientFirst().toString(), RFC.clientFirst);
  assert.equal(client.clientFinal(Buffer.from(RFC.serverFirst)).toString(), RFC.clientFinal);
  assert.equal(client.verified, false);
  client.verifyServerFinal(Buffer.from(RFC.serverFinal));
  assert.equal(client.verified, true);
});

test('verifier matches an independent RFC 5802 computation', () => {
  const salt = randomBytes(16);
  const v = makeScramVerifier('correct horse', 4096, salt);
  const salted = pbkdf2Sync('correct horse', salt, 4096, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  assert.deepEqual(v.storedKey, createHash('sha256').update(clientKey).digest());
  assert.deepEqual(v.serverKey, createHmac('sha256', salted).update('Server Key').digest());
  assert.equal(v.iterations, 4096);
  assert.equal(makeScramVerifier('x').salt.length, 16);
  assert.throws(() => makeScramVerifier('x', 0), RangeError);
});

test('round trip: right password succeeds, wrong password fails', () => {
  const verifier = makeScramVerifier('s3cret', FAST);
  assert.deepEqual(exchange(verifier, 's3cret'), { ok: true });
  const bad = exchange(verifier, 's3cret!');
  assert.equal(bad.ok, false);
  assert.equal(!bad.ok && bad.stage, 'final');
});

test('unknown user fails exactly like a wrong password, with a same-shaped challenge', () => {
  const known = makeScramVerifier('pw');
  const wrong = exchange(known, 'nope');
  const unknown = exchange(null, 'pw', { username: 'ghost' });
  assert.deepEqual(unknown, wrong);

  const shape = /^r=[!-+\--~]+,s=[A-Za-z0-9+/]{22}==,i=4096$/;
  const challenge = (v: ScramVerifier | null, opts: ScramServerOptions = {}): string => {
    const r = new ScramServerExchange(v, opts).handleInitial(SCRAM_SHA_256, Buffer.from('n,,n=,r=abc'));
    assert.ok(r.ok);
    return r.serverFirst.toString();
  };
  assert.match(challenge(known), shape);
  assert.match(challenge(null, { username: 'ghost' }), shape);
  // The fake salt is stable per user name (a changing salt would give the game away) ...
  const salt = (user: string, secret?: Buffer): string =>
    challenge(null, { username: user, mockSecret: secret }).split(',')[1];
  assert.equal(salt('ghost'), salt('ghost'));
  assert.notEqual(salt('ghost'), salt('phantom'));
  // ... and, given a persisted secret, stable across processes.
  const secret = Buffer.alloc(32, 7);
  assert.equal(salt('ghost', secret), salt('ghost', Buffer.alloc(32, 7)));
  assert.notEqual(salt('ghost', secret), salt('ghost'));
});

test('tampered nonce, proof or channel-binding attribute fails', () => {
  const verifier = makeScramVerifier('pw', FAST);
  const run = (tamper: (final: string) => string) => {
    const server = new ScramServerExchange(verifier);
    const client = new ScramClient('pw');
    const first = server.handleInitial(SCRAM_SHA_256, client.clientFirst());
    assert.ok(first.ok);
    return server.handleFinal(Buffer.from(tamper(client.clientFinal(first.serverFirst).toString())));
  };
  assert.ok(run((m) => m).ok);
  // The last character changed (to X, or Y where it was X: the nonce is random).
  const nonce = run((m) =>
    m.replace(/,r=([^,]*)/, (_, n: string) => `,r=${n.slice(0, -1)}${n.endsWith('X') ? 'Y' : 'X'}`),
  );
  assert.deepEqual(nonce, { ok: false, error: 'invalid SCRAM response (nonce mismatch)' });
  const proof = run((m) => m.replace(/p=./, (p) => (p === 'p=A' ? 'p=B' : 'p=A')));
  assert.deepEqual(proof, { ok: false, error: 'password authentication failed (invalid SCRAM proof)' });
  const cbind = run((m) => m.replace('c=biws', 'c=eSws'));
  assert.deepEqual(cbind, { ok: false, error: 'SCRAM channel binding check failed' });
});

test('client rejects a server nonce that does not extend its own', () => {
  const client = new ScramClient('pw', undefined, { nonce: 'abc' });
  client.clientFirst();
  assert.throws(() => client.clientFinal(Buffer.from('r=xyzabc,s=AAAA,i=1')), /nonce/);
  const again = new ScramClient('pw', undefined, { nonce: 'abc' });
  again.clientFirst();
  assert.throws(() => again.clientFinal(Buffer.from('r=abc,s=AAAA,i=1')), /nonce/);
});

test('client validates salt, iteration count and message shape', () => {
  const bad = [
    'r=abcd,s=A?AA,i=1', // salt not base64
    'r=abcd,s=,i=1', // empty salt
    'r=abcd,s=AAAA,i=0', // iterations < 1
    'r=abcd,s=AAAA,i=-5',
    'r=abcd,s=AAAA,i=1e3',
    'r=abcd,s=AAAA,i=99999999999',
    'r=abcd,s=AAAA', // missing i
    's=AAAA,r=abcd,i=1', // wrong order
    'm=ext,r=abcd,s=AAAA,i=1', // mandatory extension
    '',
  ];
  for (const serverFirst of bad) {
    const client = new ScramClient('pw', undefined, { nonce: 'abc' });
    client.clientFirst();
    assert.throws(() => client.clientFinal(Buffer.from(serverFirst)), Error, serverFirst);
  }
});

test('client rejects a wrong server signature and reports server errors', () => {
  const verifier = makeScramVerifier('pw', FAST);
  const impostor = makeScramVerifier('other', FAST, verifier.salt);
  // Impostor knows StoredKey (so it accepts the proof) but not ServerKey.
  const server = new ScramServerExchange({ ...verifier, serverKey: impostor.serverKey });
  const client = new ScramClient('pw');
  client.mechanismFor(server.mechanisms());
  const first = server.handleInitial(SCRAM_SHA_256, client.clientFirst());
  assert.ok(first.ok);
  const final = server.handleFinal(client.clientFinal(first.serverFirst));
  assert.ok(final.ok);
  assert.throws(() => client.verifyServerFinal(final.serverFinal), /server signature mismatch/);
  assert.equal(client.verified, false);

  const c2 = new ScramClient('pw', undefined, { nonce: 'abc' });
  c2.clientFirst();
  c2.clientFinal(Buffer.from('r=abcdef,s=AAAA,i=1'));
  assert.throws(
    () => c2.verifyServerFinal(Buffer.from('e=invalid-proof')),
    /server reported error: invalid-proof/,
  );
});

test('client steps out of order throw', () => {
  const c = new ScramClient('pw');
  assert.throws(() => c.clientFinal(Buffer.from('r=x,s=AAAA,i=1')), /out of order/);
  const d = new ScramClient('pw');
  d.clientFirst();
  assert.throws(() => d.clientFirst(), /out of order/);
  assert.throws(() => d.verifyServerFinal(Buffer.from('v=AAAA')), /out of order/);
});

test('server steps out of order fail and a failed exchange stays failed', () => {
  const verifier = makeScramVerifier('pw', FAST);
  const s = new ScramServerExchange(verifier);
  assert.equal(s.handleFinal(Buffer.from('c=biws,r=x,p=AAAA')).ok, false);
  assert.equal(s.handleInitial(SCRAM_SHA_256, Buffer.from('n,,n=,r=abc')).ok, false);

  const t = new ScramServerExchange(verifier);
  assert.equal(t.handleInitial(SCRAM_SHA_256, Buffer.from('garbage')).ok, false);
  assert.equal(t.handleInitial(SCRAM_SHA_256, Buffer.from('n,,n=,r=abc')).ok, false);
});

test('mechanisms list and PLUS selection', () => {
  assert.deepEqual(new ScramServerExchange(null).mechanisms(), [SCRAM_SHA_256]);
  assert.deepEqual(new ScramServerExchange(null, { channelBinding: CB }).mechanisms(), [
    SCRAM_SHA_256_PLUS,
    SCRAM_SHA_256,
  ]);
  const withCb = new ScramClient('pw', CB);
  assert.equal(withCb.mechanismFor([SCRAM_SHA_256_PLUS, SCRAM_SHA_256]), SCRAM_SHA_256_PLUS);
  assert.equal(new ScramClient('pw', CB).mechanismFor([SCRAM_SHA_256]), SCRAM_SHA_256);
  assert.equal(new ScramClient('pw').mechanismFor([SCRAM_SHA_256_PLUS, SCRAM_SHA_256]), SCRAM_SHA_256);
  assert.equal(new ScramClient('pw').mechanismFor(['SCRAM-SHA-1', 'OAUTHBEARER']), null);
});

test('PLUS: matching binding data succeeds, mismatching fails', () => {
  const verifier = makeScramVerifier('pw', FAST);
  assert.deepEqual(exchange(verifier, 'pw', { channelBinding: CB }, CB), { ok: true });
  const otherCert = { ...CB, data: createHash('sha256').update('mitm cert').digest() };
  assert.deepEqual(exchange(verifier, 'pw', { channelBinding: CB }, otherCert), {
    ok: false,
    error: 'SCRAM channel binding check failed',
    stage: 'final',
  });
});

test('client with binding data but no PLUS offered sends y; server refuses y when it offered PLUS', () => {
  const verifier = makeScramVerifier('pw', FAST);
  // Server genuinely without TLS binding: y is fine.
  assert.deepEqual(exchange(verifier, 'pw', {}, CB), { ok: true });
  // A MITM stripped PLUS from the list the client saw: the server must notice.
  const downgraded = exchange(verifier, 'pw', { channelBinding: CB }, CB, [SCRAM_SHA_256]);
  assert.equal(downgraded.ok, false);
  assert.equal(!downgraded.ok && downgraded.stage, 'initial');
  assert.match(!downgraded.ok ? downgraded.error : '', /downgrade/);
  // Without binding data the client says n, which is fine either way.
  assert.deepEqual(exchange(verifier, 'pw', { channelBinding: CB }, undefined), { ok: true });
});

test('gs2 header and client-first validation', () => {
  const verifier = makeScramVerifier('pw', FAST);
  const initial = (mech: string, msg: string, opts: ScramServerOptions = { channelBinding: CB }) =>
    new ScramServerExchange(verifier, opts).handleInitial(mech, Buffer.from(msg));
  assert.ok(initial(SCRAM_SHA_256, 'n,,n=,r=abc').ok);
  assert.ok(initial(SCRAM_SHA_256, 'n,,n=ignored=2Cuser,r=abc,x=ext').ok);
  assert.ok(initial(SCRAM_SHA_256_PLUS, 'p=tls-server-end-point,,n=,r=abc').ok);
  const err = (mech: string, msg: string, opts?: ScramServerOptions) => {
    const r = initial(mech, msg, opts);
    assert.equal(r.ok, false, msg);
    return r.ok ? '' : r.error;
  };
  assert.match(err(SCRAM_SHA_256, 'p=tls-server-end-point,,n=,r=abc'), /without channel binding/);
  assert.match(err(SCRAM_SHA_256_PLUS, 'n,,n=,r=abc'), /no channel binding data/);
  assert.match(err(SCRAM_SHA_256_PLUS, 'y,,n=,r=abc'), /no channel binding data/);
  assert.match(err(SCRAM_SHA_256_PLUS, 'p=tls-unique,,n=,r=abc'), /unsupported SCRAM channel-binding type/);
  assert.match(err(SCRAM_SHA_256_PLUS, 'n,,n=,r=abc', {}), /invalid SASL authentication mechanism/);
  assert.match(err('SCRAM-SHA-1', 'n,,n=,r=abc'), /invalid SASL authentication mechanism/);
  assert.match(err(SCRAM_SHA_256, 'n,a=admin,n=,r=abc'), /authorization identity/);
  assert.match(err(SCRAM_SHA_256, 'n,,m=ext,n=,r=abc'), /unsupported SCRAM extension/);
  assert.match(err(SCRAM_SHA_256, 'n,,n=,r=a,bc'), /malformed/);
  assert.match(err(SCRAM_SHA_256, 'n,,n=,r='), /invalid client nonce/);
  assert.match(err(SCRAM_SHA_256, 'n,,n=,r=ab\u00e9'), /invalid client nonce/);
  assert.match(err(SCRAM_SHA_256, 'n,,n=,r=abc\0'), /malformed/);
  assert.match(err(SCRAM_SHA_256, ''), /empty/);
  assert.match(err(SCRAM_SHA_256, 'x,,n=,r=abc'), /channel-binding flag/);
});

test('client-final validation', () => {
  const verifier = makeScramVerifier('pw', FAST);
  const final = (msg: string) => {
    const s = new ScramServerExchange(verifier, { nonce: 'SRV' });
    assert.ok(s.handleInitial(SCRAM_SHA_256, Buffer.from('n,,n=,r=abc')).ok);
    const r = s.handleFinal(Buffer.from(msg));
    assert.equal(r.ok, false, msg);
    return r.ok ? '' : r.error;
  };
  const proof = Buffer.alloc(32).toString('base64');
  assert.match(final(`c=biws,r=abcSRV,p=${proof}`), /invalid SCRAM proof/);
  assert.match(final(`c=biws,r=abcSRV,x=ext,p=${proof}`), /invalid SCRAM proof/);
  assert.match(final(`c=biws,r=abcSRV,p=${proof},x=1`), /garbage at end/);
  assert.match(final('c=biws,r=abcSRV,p=AAAA'), /malformed proof/);
  assert.match(final(`c=biws,r=abcSRV,p=${proof.slice(1)}`), /malformed proof/);
  assert.match(final(`r=abcSRV,c=biws,p=${proof}`), /expected c=, r= and p=/);
  assert.match(final(`c=biws,p=${proof}`), /expected c=, r= and p=/);
  assert.match(final(`c=eSws,r=abcSRV,p=${proof}`), /channel binding check failed/);
});

test('errors never contain the password or the proof', () => {
  const password = 'Tr0ub4dor&3-unique-marker';
  const verifier = makeScramVerifier('something else', FAST);
  const server = new ScramServerExchange(verifier);
  const client = new ScramClient(password);
  const first = server.handleInitial(SCRAM_SHA_256, client.clientFirst());
  assert.ok(first.ok);
  const clientFinal = client.clientFinal(first.serverFirst).toString();
  const proof = clientFinal.slice(clientFinal.indexOf(',p=') + 3);
  const result = server.handleFinal(Buffer.from(clientFinal));
  assert.equal(result.ok, false);
  const error = result.ok ? '' : result.error;
  assert.ok(!error.includes(password) && !error.includes(proof) && !error.includes(proof.slice(0, 8)));
});

test('property: any password round-trips (SASLprep on both sides) and a different one fails', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: 'binary', maxLength: 24 }),
      fc.string({ maxLength: 8 }),
      (password, other) => {
        const verifier = makeScramVerifier(password, 1);
        assert.deepEqual(exchange(verifier, password, {}, undefined), { ok: true });
        fc.pre(
          other !== password &&
            !makeScramVerifier(other, 1, verifier.salt).storedKey.equals(verifier.storedKey),
        );
        assert.equal(exchange(verifier, other).ok, false);
      },
    ),
    { numRuns: 150 },
  );
});

/** Pieces that reach deep into the parsers, mixed with arbitrary text. */
const scramish = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        'n',
        'y',
        'p',
        'p=tls-server-end-point',
        ',',
        '=',
        'n=',
        'r=',
        'a=',
        'm=',
        'c=',
        'biws',
      ),
      fc.constantFrom('eSws', 's=', 'i=', 'v=', 'e=', 'abc', '\0', '=2C', '==', 'AAAA', '\u00e9', ',,'),
      fc.string({ maxLength: 6 }),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

const garbage = fc.oneof(
  scramish.map((s) => Buffer.from(s, 'utf8')),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
);

test('property: garbage client messages never throw and never authenticate', () => {
  const verifier = makeScramVerifier('pw', 1);
  fc.assert(
    fc.property(
      fc.constantFrom(SCRAM_SHA_256, SCRAM_SHA_256_PLUS, 'SCRAM-SHA-1', ''),
      garbage,
      garbage,
      fc.boolean(),
      (mechanism, first, final, plus) => {
        const server = new ScramServerExchange(verifier, plus ? { channelBinding: CB } : {});
        const r1 = server.handleInitial(mechanism, first);
        if (r1.ok) assert.equal(typeof r1.serverFirst.toString(), 'string');
        else assert.equal(typeof r1.error, 'string');
        // Also feed garbage as the final message after a valid first one.
        const fresh = new ScramServerExchange(verifier, plus ? { channelBinding: CB } : {});
        const mech = plus ? SCRAM_SHA_256_PLUS : SCRAM_SHA_256;
        const gs2 = plus ? 'p=tls-server-end-point,,' : 'n,,';
        assert.ok(fresh.handleInitial(mech, Buffer.from(`${gs2}n=,r=abc`)).ok);
        const r2 = fresh.handleFinal(final);
        assert.equal(r2.ok, false);
      },
    ),
    { numRuns: 2000 },
  );
});

test('property: garbage server messages make the client throw an Error, nothing else', () => {
  fc.assert(
    fc.property(garbage, garbage, (first, final) => {
      const client = new ScramClient('pw', undefined, { nonce: 'abc' });
      client.clientFirst();
      try {
        client.clientFinal(first);
      } catch (err) {
        assert.ok(err instanceof Error && err.message.startsWith('SCRAM'));
        return;
      }
      assert.throws(() => client.verifyServerFinal(final), /^Error: SCRAM/);
    }),
    { numRuns: 1000 },
  );
});
