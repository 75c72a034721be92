/**
 * Server side of SCRAM-SHA-256[-PLUS] (RFC 5802, RFC 7677) the way PostgreSQL runs it, used to
 * authenticate the gateway's own clients against identities configured with a plaintext password.
 * https://www.postgresql.org/docs/current/sasl-authentication.html#SASL-SCRAM-SHA-256
 *
 * PostgreSQL behaviour copied on purpose:
 * - the user name inside client-first-message is ignored; the startup packet's user is authoritative;
 * - authzid (`a=`) and mandatory extensions (`m=`) are refused;
 * - a client that says `y` (supports binding, thinks we do not) is refused when we offered PLUS,
 *   because that only happens when someone stripped PLUS from our mechanism list (downgrade);
 * - unknown users run a full exchange against a fake verifier and fail like a wrong password.
 *
 * Messages are handled as latin1 strings so every byte maps to one char and AuthMessage is rebuilt
 * byte-exactly, whatever the client put in the (ignored) user name.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { saslprepPassword } from './saslprep.js';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
export const SCRAM_SHA_256_PLUS = 'SCRAM-SHA-256-PLUS';

/** PostgreSQL defaults (scram-common.h): salt length, nonce entropy, iteration count. */
const SALT_LEN = 16;
const RAW_NONCE_LEN = 18;
export const DEFAULT_SCRAM_ITERATIONS = 4096;

export interface ScramVerifier {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

export interface ChannelBinding {
  type: 'tls-server-end-point';
  /** tlsServerEndPointHash() of the certificate this server presented. */
  data: Buffer;
}

export interface ScramServerOptions {
  channelBinding?: ChannelBinding;
  /** Startup-packet user; with a null verifier it keys the fake salt so it is stable per user. */
  username?: string;
  /** Key for fake salts. Pass a persisted secret so fake salts do not change across restarts. */
  mockSecret?: Buffer;
  /** Fixed server nonce. Only for reproducing test vectors; never set it in production. */
  nonce?: string;
}

export type ScramInitialResult = { ok: true; serverFirst: Buffer } | { ok: false; error: string };
export type ScramFinalResult = { ok: true; serverFinal: Buffer } | { ok: false; error: string };

/** Derives what a server stores for a password (RFC 5802 section 3). */
export function makeScramVerifier(
  password: string,
  iterations = DEFAULT_SCRAM_ITERATIONS,
  salt: Buffer = randomBytes(SALT_LEN),
): ScramVerifier {
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RangeError('SCRAM iterations must be >= 1');
  }
  if (salt.length === 0) throw new RangeError('SCRAM salt must not be empty');
  const salted = pbkdf2Sync(saslprepPassword(password), salt, iterations, 32, 'sha256');
  return {
    iterations,
    salt: Buffer.from(salt),
    storedKey: sha256(hmac(salted, 'Client Key')),
    serverKey: hmac(salted, 'Server Key'),
  };
}

/** Per-process fallback key for fake salts when the caller supplies no persisted mockSecret. */
const processMockSecret = randomBytes(32);

function mockVerifier(username: string | undefined, secret: Buffer | undefined): ScramVerifier {
  const salt =
    username === undefined
      ? randomBytes(SALT_LEN)
      : hmac(secret ?? processMockSecret, `scram-mock-salt\0${username}`).subarray(0, SALT_LEN);
  // Random keys: no proof can match them, and the exchange is doomed regardless.
  return {
    iterations: DEFAULT_SCRAM_ITERATIONS,
    salt,
    storedKey: randomBytes(32),
    serverKey: randomBytes(32),
  };
}

/** Thrown internally for any protocol violation; surfaced as `{ ok: false, error }`. */
class ScramError extends Error {}

type State = 'initial' | 'final' | 'done';

/**
 * One SASL exchange with one client. Call handleInitial, then handleFinal; any misuse fails.
 *
 * Pass `null` for an unknown user (with `username` set): the client sees the same messages and the
 * same failure as for a wrong password. For that to hold in timing too, derive verifiers once when
 * the configuration loads (not per login, PBKDF2 is slow) and keep the default iteration count,
 * which is what the fake verifier advertises.
 */
export class ScramServerExchange {
  readonly #verifier: ScramVerifier;
  readonly #doomed: boolean;
  readonly #cb: ChannelBinding | undefined;
  readonly #fixedNonce: string | undefined;
  #state: State = 'initial';
  #expectedC = '';
  #nonce = '';
  #clientFirstBare = '';
  #serverFirst = '';

  constructor(verifier: ScramVerifier | null, opts: ScramServerOptions = {}) {
    this.#verifier = verifier ?? mockVerifier(opts.username, opts.mockSecret);
    this.#doomed = verifier === null;
    this.#cb = opts.channelBinding;
    this.#fixedNonce = opts.nonce;
  }

  /** Mechanisms for AuthenticationSASL, PLUS first (as PostgreSQL orders them) when TLS binding is possible. */
  mechanisms(): string[] {
    return this.#cb ? [SCRAM_SHA_256_PLUS, SCRAM_SHA_256] : [SCRAM_SHA_256];
  }

  /** SASLInitialResponse: mechanism name plus client-first-message. */
  handleInitial(mechanism: string, clientFirst: Buffer): ScramInitialResult {
    return this.#step('initial', () => {
      const serverFirst = this.#readClientFirst(mechanism, decode(clientFirst));
      this.#state = 'final';
      return { ok: true, serverFirst: Buffer.from(serverFirst, 'latin1') };
    });
  }

  /** SASLResponse: client-final-message. On success send serverFinal in AuthenticationSASLFinal. */
  handleFinal(clientFinal: Buffer): ScramFinalResult {
    return this.#step('final', () => ({
      ok: true,
      serverFinal: Buffer.from(this.#readClientFinal(decode(clientFinal)), 'latin1'),
    }));
  }

  /** Runs one step; any failure ends the exchange for good, and nothing ever throws to the caller. */
  #step<T>(expected: State, run: () => T): T | { ok: false; error: string } {
    if (this.#state !== expected) {
      this.#state = 'done';
      return { ok: false, error: 'SCRAM message out of sequence' };
    }
    this.#state = 'done';
    try {
      return run();
    } catch (err) {
      return { ok: false, error: err instanceof ScramError ? err.message : 'malformed SCRAM message' };
    }
  }

  #readClientFirst(mechanism: string, msg: string): string {
    if (!this.mechanisms().includes(mechanism)) {
      throw new ScramError('client selected an invalid SASL authentication mechanism');
    }
    const plus = mechanism === SCRAM_SHA_256_PLUS;

    // gs2-header = gs2-cbind-flag "," [authzid] ","
    const c1 = msg.indexOf(',');
    const c2 = c1 < 0 ? -1 : msg.indexOf(',', c1 + 1);
    if (c2 < 0) throw new ScramError('malformed SCRAM message (missing gs2 header)');
    const flag = msg.slice(0, c1);
    const authzid = msg.slice(c1 + 1, c2);
    if (flag === 'n' || flag === 'y') {
      if (plus) {
        throw new ScramError('client selected SCRAM-SHA-256-PLUS but sent no channel binding data');
      }
      if (flag === 'y' && this.#cb) {
        throw new ScramError(
          'SCRAM channel binding negotiation error: client supports channel binding but thinks the server ' +
            'does not, although it does (possible downgrade attack)',
        );
      }
    } else if (flag.startsWith('p=')) {
      if (!plus) {
        throw new ScramError(
          'client selected SCRAM-SHA-256 without channel binding, but the message includes channel binding data',
        );
      }
      if (flag !== 'p=tls-server-end-point') throw new ScramError('unsupported SCRAM channel-binding type');
    } else {
      throw new ScramError('malformed SCRAM message (unexpected channel-binding flag)');
    }
    if (authzid.startsWith('a=')) {
      throw new ScramError('client uses authorization identity, but it is not supported');
    }
    if (authzid !== '') throw new ScramError('malformed SCRAM message (unexpected attribute in gs2 header)');

    const gs2Header = msg.slice(0, c2 + 1);
    const bindData = plus ? this.#cb!.data : Buffer.alloc(0);
    this.#expectedC = Buffer.concat([Buffer.from(gs2Header, 'latin1'), bindData]).toString('base64');

    // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
    this.#clientFirstBare = msg.slice(c2 + 1);
    const attrs = parseAttributes(this.#clientFirstBare);
    if (attrs[0]?.[0] === 'm') throw new ScramError('client requires an unsupported SCRAM extension');
    if (attrs.length < 2 || attrs[0][0] !== 'n' || attrs[1][0] !== 'r') {
      throw new ScramError('malformed SCRAM message (expected n= and r= attributes)');
    }
    const clientNonce = attrs[1][1];
    if (!isPrintableNonce(clientNonce)) {
      throw new ScramError('malformed SCRAM message (invalid client nonce)');
    }

    const serverNonce = this.#fixedNonce ?? randomBytes(RAW_NONCE_LEN).toString('base64');
    this.#nonce = clientNonce + serverNonce;
    const { salt, iterations } = this.#verifier;
    this.#serverFirst = `r=${this.#nonce},s=${salt.toString('base64')},i=${iterations}`;
    return this.#serverFirst;
  }

  #readClientFinal(msg: string): string {
    // client-final-message = channel-binding "," nonce ["," extensions] "," proof
    const attrs = parseAttributes(msg);
    const proofAt = attrs.findIndex(([name]) => name === 'p');
    if (attrs.length < 3 || attrs[0][0] !== 'c' || attrs[1][0] !== 'r' || proofAt < 2) {
      throw new ScramError('malformed SCRAM message (expected c=, r= and p= attributes)');
    }
    if (proofAt !== attrs.length - 1) {
      throw new ScramError('malformed SCRAM message (garbage at end of client-final-message)');
    }
    const proof = decodeBase64(attrs[proofAt][1]);
    if (proof === null || proof.length !== 32) {
      throw new ScramError('malformed SCRAM message (malformed proof in client-final-message)');
    }
    // Binding data and nonce are public, so ordinary comparisons are fine here.
    if (attrs[0][1] !== this.#expectedC) throw new ScramError('SCRAM channel binding check failed');
    if (attrs[1][1] !== this.#nonce) throw new ScramError('invalid SCRAM response (nonce mismatch)');

    const withoutProof = msg.slice(0, msg.lastIndexOf(',p='));
    const authMessage = Buffer.from(
      `${this.#clientFirstBare},${this.#serverFirst},${withoutProof}`,
      'latin1',
    );
    const { storedKey, serverKey } = this.#verifier;
    // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the proof holds iff H(ClientKey) = StoredKey.
    const clientKey = xor(proof, hmac(storedKey, authMessage));
    const proofOk = timingSafeEqual(sha256(clientKey), storedKey);
    // Evaluated after the proof so unknown users cost the same work as known ones.
    if (!proofOk || this.#doomed) {
      throw new ScramError('password authentication failed (invalid SCRAM proof)');
    }
    return `v=${hmac(serverKey, authMessage).toString('base64')}`;
  }
}

/** Splits `a=v,b=w` into pairs; every attribute is one ASCII letter, '=' and a comma-free value. */
function parseAttributes(s: string): [string, string][] {
  return s.split(',').map((part) => {
    if (!/^[A-Za-z]=/.test(part)) throw new ScramError('malformed SCRAM message (bad attribute)');
    return [part[0], part.slice(2)];
  });
}

function decode(msg: Buffer): string {
  // PostgreSQL treats SASL payloads as C strings, so an embedded NUL is a protocol violation.
  if (msg.length === 0) throw new ScramError('malformed SCRAM message (empty message)');
  if (msg.includes(0)) throw new ScramError('malformed SCRAM message (length mismatch)');
  return msg.toString('latin1');
}

/** RFC 5802 `printable`: %x21-2B / %x2D-7E (no comma). */
function isPrintableNonce(s: string): boolean {
  return /^[\x21-\x2b\x2d-\x7e]+$/.test(s);
}

/** Strict base64 (Buffer.from silently skips junk, which would let malformed input through). */
export function decodeBase64(s: string): Buffer | null {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return null;
  return Buffer.from(s, 'base64');
}

function hmac(key: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}
