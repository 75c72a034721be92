// A minimal PostgreSQL client on a raw socket, for tests that must send what no driver sends:
// hand-made or malformed startup packets and messages, half packets, extra bytes. Messages are
// built here byte by byte, independently of the gateway's own builders, and everything received
// is kept as raw messages so that tests can check the exact bytes.
// https://www.postgresql.org/docs/current/protocol-message-formats.html

import net from 'node:net';
import { ScramClient } from '../../proxy/auth/scram-client.js';

// ---- builders ------------------------------------------------------------------------------

export function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
}

export const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');

/** A typed message: type byte, int32 length (counting itself), body. */
export function message(type: string, ...body: Buffer[]): Buffer {
  const b = Buffer.concat(body);
  return Buffer.concat([Buffer.from(type, 'latin1'), int32(4 + b.length), b]);
}

/** An untyped startup-phase packet: int32 length (counting itself), body. */
export function packet(...body: Buffer[]): Buffer {
  const b = Buffer.concat(body);
  return Buffer.concat([int32(4 + b.length), b]);
}

export const PROTOCOL_30 = 3 << 16;
export const SSL_CODE = 80877103;
export const GSSENC_CODE = 80877104;
export const CANCEL_CODE = 80877102;

/** StartupMessage for protocol 3.`minor`; parameters in the given order. */
export function startupPacket(params: Record<string, string>, minor = 0): Buffer {
  const kv = Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]);
  return packet(int32((3 << 16) | minor), ...kv, Buffer.from([0]));
}

export const sslRequest = (): Buffer => packet(int32(SSL_CODE));
export const gssencRequest = (): Buffer => packet(int32(GSSENC_CODE));
export const cancelRequest = (pid: number, key: Buffer): Buffer =>
  packet(int32(CANCEL_CODE), int32(pid), key);

export const queryMessage = (sql: string): Buffer => message('Q', cstr(sql));
export const parseMessage = (name: string, sql: string, types: number[] = []): Buffer =>
  message('P', cstr(name), cstr(sql), int16(types.length), ...types.map(int32));
/**
 * Bind with text parameters (null = SQL NULL); result formats as given (default none: all text;
 * one code applies to every column).
 */
export function bindMessage(
  portal: string,
  statement: string,
  params: (string | null)[],
  resultFormats: number[] = [],
): Buffer {
  const values = params.flatMap((p) =>
    p === null ? [int32(-1)] : [int32(Buffer.byteLength(p)), Buffer.from(p)],
  );
  return message(
    'B',
    cstr(portal),
    cstr(statement),
    int16(0),
    int16(params.length),
    ...values,
    int16(resultFormats.length),
    ...resultFormats.map(int16),
  );
}
export const describePortal = (portal: string): Buffer => message('D', Buffer.from('P'), cstr(portal));
export const executeMessage = (portal: string, maxRows = 0): Buffer =>
  message('E', cstr(portal), int32(maxRows));
export const syncMessage = (): Buffer => message('S');
export const terminateMessage = (): Buffer => message('X');

// ---- decoding ------------------------------------------------------------------------------

export interface RawMessage {
  /** The type byte as a character ('E', 'D', ...). */
  type: string;
  body: Buffer;
  /** The whole message as received. */
  raw: Buffer;
}

/** ErrorResponse / NoticeResponse fields by code letter (S, V, C, M, D, H, ...). */
export function errorFields(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let p = 0;
  while (p < body.length && body[p] !== 0) {
    const nul = body.indexOf(0, p + 1);
    out[String.fromCharCode(body[p])] = body.toString('utf8', p + 1, nul);
    p = nul + 1;
  }
  return out;
}

/** DataRow values as text (null for SQL NULL). */
export function dataRowValues(body: Buffer): (string | null)[] {
  const n = body.readInt16BE(0);
  const out: (string | null)[] = [];
  let p = 2;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(p);
    p += 4;
    if (len < 0) out.push(null);
    else {
      out.push(body.toString('utf8', p, p + len));
      p += len;
    }
  }
  return out;
}

export interface QueryResult {
  messages: RawMessage[];
  /** DataRow messages. */
  rows: RawMessage[];
  errors: Record<string, string>[];
  tags: string[];
}

export interface LoginOptions {
  user: string;
  password: string;
  database?: string;
  /** Protocol minor version to ask for (default 0). */
  minor?: number;
  /** More startup parameters (application_name, `_pq_.*` options, ...). */
  params?: Record<string, string>;
  /** Sent right after the last SASL message, without waiting for the login to finish (pipelining). */
  pipeline?: Buffer;
  timeoutMs?: number;
}

export interface LoginResult {
  /** Every message from the first after the startup packet up to ReadyForQuery. */
  messages: RawMessage[];
  negotiate: RawMessage | null;
  parameters: Map<string, string>;
  pid: number;
  key: Buffer;
}

// ---- the client ----------------------------------------------------------------------------

export class ConnectionClosedError extends Error {}

export class RawClient {
  /** Received, not yet read: joined lazily, so a client that reads nothing does not copy. */
  private chunks: Buffer[] = [];
  private size = 0;
  private wake: (() => void) | null = null;
  /** True once the peer ended or the socket closed. */
  ended = false;
  /** True once the socket is fully closed. */
  closed = false;
  error: Error | null = null;
  /** Bytes received in total. */
  received = 0;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.size += d.length;
      this.received += d.length;
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.ended = true;
      this.closed = true;
      this.notify();
    });
    socket.on('error', (e) => {
      this.error = e;
      this.notify();
    });
  }

  static connect(host: string, port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      s.setNoDelay(true);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawClient(s));
      });
      s.once('error', reject);
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Waits until `ready()` holds; throws after `timeoutMs`. */
  private async until(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  get buffered(): number {
    return this.size;
  }

  /** Stops reading from the socket (the peer then sees backpressure); `resume()` reads again. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  write(b: Buffer | string): void {
    this.socket.write(b);
  }

  /** Exactly `n` bytes; ConnectionClosedError if the connection ends first. */
  async readBytes(n: number, timeoutMs = 5000): Promise<Buffer> {
    await this.until(() => this.size >= n || this.ended, timeoutMs, `${n} bytes`);
    if (this.size < n) {
      throw new ConnectionClosedError(`connection closed after ${this.size} of ${n} bytes`);
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    return all.subarray(0, n);
  }

  /** Discards received bytes until at least `n` bytes were received in total. */
  async skipUntilReceived(n: number, timeoutMs = 5000): Promise<void> {
    await this.until(() => this.received >= n || this.ended, timeoutMs, `${n} bytes received`);
    if (this.received < n) throw new ConnectionClosedError(`connection closed after ${this.received} bytes`);
    this.chunks = [];
    this.size = 0;
  }

  async readMessage(timeoutMs = 5000): Promise<RawMessage> {
    const header = await this.readBytes(5, timeoutMs);
    const len = header.readInt32BE(1);
    if (len < 4) throw new Error(`the server sent a message of length ${len}`);
    const body = Buffer.from(await this.readBytes(len - 4, timeoutMs));
    return { type: String.fromCharCode(header[0]), body, raw: Buffer.concat([header, body]) };
  }

  /** Messages up to and including the first of type `type`. */
  async readUntil(type: string, timeoutMs = 5000): Promise<RawMessage[]> {
    const deadline = Date.now() + timeoutMs;
    const out: RawMessage[] = [];
    for (;;) {
      const m = await this.readMessage(Math.max(1, deadline - Date.now()));
      out.push(m);
      if (m.type === type) return out;
    }
  }

  /** Every message until the connection closes (or the time is up: then throws). */
  async readToEnd(timeoutMs = 5000): Promise<RawMessage[]> {
    const deadline = Date.now() + timeoutMs;
    const out: RawMessage[] = [];
    for (;;) {
      try {
        out.push(await this.readMessage(Math.max(1, deadline - Date.now())));
      } catch (e) {
        if (e instanceof ConnectionClosedError && this.size === 0) return out;
        throw e;
      }
    }
  }

  /** Resolves true once the connection is closed by the peer, false if still open after `timeoutMs`. */
  async waitEnded(timeoutMs = 5000): Promise<boolean> {
    try {
      await this.until(() => this.ended, timeoutMs, 'the connection to close');
      return true;
    } catch {
      return false;
    }
  }

  /** Sends a StartupMessage and logs in with SCRAM-SHA-256 (no channel binding) up to ReadyForQuery. */
  async login(o: LoginOptions): Promise<LoginResult> {
    const timeoutMs = o.timeoutMs ?? 10_000;
    const params = { user: o.user, database: o.database ?? 'anything', ...o.params };
    this.write(startupPacket(params, o.minor ?? 0));
    const messages: RawMessage[] = [];
    const next = async (): Promise<RawMessage> => {
      const m = await this.readMessage(timeoutMs);
      messages.push(m);
      if (m.type === 'E') {
        const f = errorFields(m.body);
        throw Object.assign(new Error(`login failed: ${f.C} ${f.M}`), { code: f.C, fields: f });
      }
      return m;
    };
    let m = await next();
    let negotiate: RawMessage | null = null;
    if (m.type === 'v') {
      negotiate = m;
      m = await next();
    }
    const authCode = (x: RawMessage, code: number) => {
      if (x.type !== 'R' || x.body.readInt32BE(0) !== code) {
        throw new Error(
          `expected Authentication ${code}, got '${x.type}' ${x.body.subarray(0, 4).toString('hex')}`,
        );
      }
    };
    authCode(m, 10);
    const mechanisms = m.body.toString('utf8', 4).split('\0').filter(Boolean);
    const scram = new ScramClient(o.password);
    const mech = scram.mechanismFor(mechanisms);
    if (mech === null) throw new Error(`no usable SASL mechanism in ${mechanisms.join(', ')}`);
    const first = scram.clientFirst();
    this.write(message('p', cstr(mech), int32(first.length), first));
    m = await next();
    authCode(m, 11);
    this.write(message('p', scram.clientFinal(Buffer.from(m.body.subarray(4)))));
    if (o.pipeline) this.write(o.pipeline);
    m = await next();
    authCode(m, 12);
    scram.verifyServerFinal(Buffer.from(m.body.subarray(4)));
    m = await next();
    authCode(m, 0);
    const parameters = new Map<string, string>();
    let pid = 0;
    let key = Buffer.alloc(0);
    for (;;) {
      m = await next();
      if (m.type === 'S') {
        const [k, v] = m.body.toString('utf8').split('\0');
        parameters.set(k, v);
      } else if (m.type === 'K') {
        pid = m.body.readInt32BE(0);
        key = Buffer.from(m.body.subarray(4));
      } else if (m.type === 'Z') {
        return { messages, negotiate, parameters, pid, key };
      }
    }
  }

  /** Sends one simple Query and reads its answer up to ReadyForQuery. */
  async query(sql: string, timeoutMs = 10_000): Promise<QueryResult> {
    this.write(queryMessage(sql));
    return this.result(timeoutMs);
  }

  /** Reads one answer up to ReadyForQuery. */
  async result(timeoutMs = 10_000): Promise<QueryResult> {
    const messages = await this.readUntil('Z', timeoutMs);
    return {
      messages,
      rows: messages.filter((m) => m.type === 'D'),
      errors: messages.filter((m) => m.type === 'E').map((m) => errorFields(m.body)),
      tags: messages.filter((m) => m.type === 'C').map((m) => m.body.toString('utf8', 0, m.body.length - 1)),
    };
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Sends Terminate and closes. */
  async end(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    if (!this.ended) this.socket.end(terminateMessage());
    else this.socket.destroy();
    await done;
  }
}
