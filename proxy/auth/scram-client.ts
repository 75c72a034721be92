/**
 * Client side of SCRAM-SHA-256[-PLUS] (RFC 5802, RFC 7677) for the gateway's own upstream login,
 * following libpq's choices.
 * https://www.postgresql.org/docs/current/sasl-authentication.html#SASL-SCRAM-SHA-256
 *
 * The caller must not accept AuthenticationOk before verifyServerFinal() succeeded (see `verified`):
 * otherwise a fake upstream could skip the exchange and never prove it knows the password.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { saslprepPassword } from './saslprep.js';
import { type ChannelBinding, decodeBase64, SCRAM_SHA_256, SCRAM_SHA_256_PLUS } from './scram-server.js';

/**
 * Upper bound on the server-chosen iteration count. PBKDF2 runs synchronously, so a hostile or
 * misconfigured upstream could otherwise stall the event loop for minutes. ~10 s at today's speeds.
 */
export const MAX_SCRAM_ITERATIONS = 10_000_000;

export interface ScramClientOptions {
  /** SCRAM user name; PostgreSQL ignores it (the startup packet's user counts), libpq sends ''. */
  username?: string;
  /** Fixed client nonce. Only for reproducing test vectors; never set it in production. */
  nonce?: string;
}

type State = 'start' | 'first-sent' | 'final-sent' | 'done';

export class ScramClient {
  readonly #password: Buffer;
  readonly #cb: ChannelBinding | undefined;
  readonly #nonce: string;
  readonly #username: string;
  #mechanism: string = SCRAM_SHA_256;
  #state: State = 'start';
  #gs2Header = '';
  #clientFirstBare: Buffer = Buffer.alloc(0);
  #serverSignature: Buffer = Buffer.alloc(0);
  #verified = false;

  constructor(password: string, channelBinding?: ChannelBinding, opts: ScramClientOptions = {}) {
    this.#password = saslprepPassword(password);
    this.#cb = channelBinding;
    this.#nonce = opts.nonce ?? randomBytes(18).toString('base64');
    this.#username = opts.username ?? '';
  }

  /** True once the server proved knowledge of the password; only then is AuthenticationOk trustworthy. */
  get verified(): boolean {
    return this.#verified;
  }

  /**
   * Picks the mechanism from AuthenticationSASL's list: PLUS when we have binding data and the
   * server offers it, else plain SCRAM-SHA-256, else null (nothing we can do).
   */
  mechanismFor(offered: string[]): string | null {
    if (this.#cb && offered.includes(SCRAM_SHA_256_PLUS)) this.#mechanism = SCRAM_SHA_256_PLUS;
    else if (offered.includes(SCRAM_SHA_256)) this.#mechanism = SCRAM_SHA_256;
    else return null;
    return this.#mechanism;
  }

  /** client-first-message, for SASLInitialResponse (with the mechanism from mechanismFor). */
  clientFirst(): Buffer {
    this.#begin('start');
    // 'y' = "I could bind but you did not offer PLUS": a server that did offer it then knows a MITM
    // stripped PLUS from the list in transit, and refuses (RFC 5802 section 6).
    if (this.#mechanism === SCRAM_SHA_256_PLUS) this.#gs2Header = 'p=tls-server-end-point,,';
    else this.#gs2Header = this.#cb ? 'y,,' : 'n,,';
    this.#clientFirstBare = Buffer.from(`n=${saslname(this.#username)},r=${this.#nonce}`, 'utf8');
    this.#state = 'first-sent';
    return Buffer.concat([Buffer.from(this.#gs2Header, 'latin1'), this.#clientFirstBare]);
  }

  /** Consumes server-first-message (AuthenticationSASLContinue) and returns client-final-message. */
  clientFinal(serverFirst: Buffer): Buffer {
    this.#begin('first-sent');
    const msg = serverFirst.toString('latin1');
    const attrs = attributes(msg, 'server-first-message');
    if (attrs[0]?.[0] === 'm') throw new Error('SCRAM: server requires an unsupported mandatory extension');
    if (attrs.length < 3 || attrs[0][0] !== 'r' || attrs[1][0] !== 's' || attrs[2][0] !== 'i') {
      throw new Error('SCRAM: malformed server-first-message (expected r=, s= and i=)');
    }
    const [[, nonce], [, saltB64], [, iterText]] = attrs;
    if (!nonce.startsWith(this.#nonce) || nonce.length === this.#nonce.length) {
      throw new Error('SCRAM: server nonce does not extend the client nonce');
    }
    if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(nonce)) throw new Error('SCRAM: server nonce has invalid characters');
    const salt = decodeBase64(saltB64);
    if (salt === null || salt.length === 0) throw new Error('SCRAM: malformed salt in server-first-message');
    if (!/^[1-9][0-9]{0,9}$/.test(iterText)) throw new Error('SCRAM: invalid iteration count');
    const iterations = Number(iterText);
    if (iterations > MAX_SCRAM_ITERATIONS) {
      throw new Error(`SCRAM: iteration count ${iterations} exceeds the limit of ${MAX_SCRAM_ITERATIONS}`);
    }

    const salted = pbkdf2Sync(this.#password, salt, iterations, 32, 'sha256');
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const bindData = this.#mechanism === SCRAM_SHA_256_PLUS ? this.#cb!.data : Buffer.alloc(0);
    const cbind = Buffer.concat([Buffer.from(this.#gs2Header, 'latin1'), bindData]).toString('base64');
    const withoutProof = `c=${cbind},r=${nonce}`;
    const authMessage = Buffer.concat([
      this.#clientFirstBare,
      Buffer.from(`,${msg},${withoutProof}`, 'latin1'),
    ]);
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) proof[i] = clientKey[i] ^ signature[i];
    this.#serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    this.#state = 'final-sent';
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'latin1');
  }

  /** Checks server-final-message (AuthenticationSASLFinal); throws unless the server signature matches. */
  verifyServerFinal(serverFinal: Buffer): void {
    this.#begin('final-sent');
    const msg = serverFinal.toString('latin1');
    if (msg.startsWith('e=')) {
      const reason = msg
        .slice(2)
        .split(',')[0]
        .replace(/[^\x20-\x7e]/g, '?')
        .slice(0, 100);
      throw new Error(`SCRAM: server reported error: ${reason}`);
    }
    const attrs = attributes(msg, 'server-final-message');
    const signature = attrs[0][0] === 'v' ? decodeBase64(attrs[0][1]) : null;
    if (signature === null || signature.length !== 32) {
      throw new Error('SCRAM: malformed server-final-message');
    }
    if (!timingSafeEqual(signature, this.#serverSignature)) {
      throw new Error('SCRAM: server signature mismatch (the server does not know the password)');
    }
    this.#verified = true;
  }

  /** Any failure, including calling steps out of order, ends the exchange for good. */
  #begin(expected: State): void {
    const ok = this.#state === expected;
    this.#state = 'done';
    if (!ok) throw new Error('SCRAM: exchange step called out of order');
  }
}

/** Splits `a=v,b=w`; attribute names are single ASCII letters and values never contain commas. */
function attributes(msg: string, what: string): [string, string][] {
  return msg.split(',').map((part) => {
    if (!/^[A-Za-z]=/.test(part)) throw new Error(`SCRAM: malformed ${what}`);
    return [part[0], part.slice(2)];
  });
}

/** RFC 5802 saslname: ',' and '=' must be escaped. */
function saslname(user: string): string {
  return user.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function hmac(key: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
