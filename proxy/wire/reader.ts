// One bounded reader for every protocol message body the gateway decodes. A hostile client knows
// PostgreSQL's protocol better than hand-written decoders do, so all of them read through this
// one, which reads each field as PostgreSQL reads it (pqformat.c):
//   - counts (parameters, format codes, columns) are pq_getmsgint(msg, 2): UNSIGNED 16-bit. Read
//     signed, a count of 0x8000 or more turns negative and the decoder desynchronises from the
//     server (reads later fields out of bytes the client chose);
//   - format codes are int16, value lengths int32 with -1 = NULL and any other negative length
//     refused (pq_getmsgbytes: "insufficient data left in message");
//   - every read is checked against the message's `end`, never the buffer's length: the framer
//     hands out views into a chunk that goes on with the next message.
// In the style of node-postgres' pg-protocol BufferReader: one buffer and a cursor, reset and
// reused, so a per-DataRow loop allocates nothing. Any malformed body throws FieldError.

/** A message body that is not what its type says (truncated, a bad length, bytes left over). */
export class FieldError extends Error {}

const EMPTY = Buffer.alloc(0);

export class BodyReader {
  buf: Buffer = EMPTY;
  /** The cursor: the next byte to read, in buf's coordinates. */
  pos = 0;
  /** One past the last byte of the body; reads never go past it. */
  end = 0;
  /** Where the last `value()` starts (its bytes are buf[valueStart, pos) unless it was NULL). */
  valueStart = 0;
  /** Names the message in errors ("Bind is truncated"). */
  what = 'message';

  constructor(buf?: Buffer, start = 0, end = buf ? buf.length : 0, what = 'message') {
    if (buf) this.reset(buf, start, end, what);
  }

  /** Reads buf[start, end) from the start. `end` must not be past the buffer. */
  reset(buf: Buffer, start: number, end: number, what = 'message'): this {
    if (start < 0 || end > buf.length || start > end) throw new FieldError(`${what} is outside its buffer`);
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.what = what;
    return this;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  get position(): number {
    return this.pos;
  }

  /** Claims n bytes at the cursor and returns where they start. */
  private need(n: number): number {
    const at = this.pos;
    if (n > this.end - at) throw new FieldError(`${this.what} is truncated`);
    this.pos = at + n;
    return at;
  }

  uint8(): number {
    return this.buf[this.need(1)];
  }

  int16(): number {
    const p = this.need(2);
    const b = this.buf;
    return ((b[p] << 24) | (b[p + 1] << 16)) >> 16;
  }

  /** A count: unsigned, as pq_getmsgint(msg, 2) reads it (0..65535). */
  uint16(): number {
    const p = this.need(2);
    return (this.buf[p] << 8) | this.buf[p + 1];
  }

  int32(): number {
    const p = this.need(4);
    const b = this.buf;
    return (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
  }

  /** An OID (unsigned 32-bit). */
  uint32(): number {
    return this.int32() >>> 0;
  }

  int64(): bigint {
    return this.buf.readBigInt64BE(this.need(8));
  }

  float32(): number {
    return this.buf.readFloatBE(this.need(4));
  }

  float64(): number {
    return this.buf.readDoubleBE(this.need(8));
  }

  /** Skips a NUL-terminated string; returns the position of its NUL (the string is [start, nul)). */
  cstringEnd(): number {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw new FieldError(`${this.what} has an unterminated string`);
    this.pos = nul + 1;
    return nul;
  }

  /** A NUL-terminated string, decoded as UTF-8. */
  cstring(): string {
    const at = this.pos;
    return this.buf.toString('utf8', at, this.cstringEnd());
  }

  /** A NUL-terminated string, one char per byte (for bytes that must round-trip unchanged). */
  cstringLatin1(): string {
    const at = this.pos;
    return this.buf.toString('latin1', at, this.cstringEnd());
  }

  skip(n: number): void {
    if (n < 0) throw new FieldError(`${this.what} has a negative length`);
    this.need(n);
  }

  /** n bytes as a view into the buffer (no copy). */
  bytes(n: number): Buffer {
    if (n < 0) throw new FieldError(`${this.what} has a negative length`);
    const at = this.need(n);
    return this.buf.subarray(at, at + n);
  }

  /** The rest of the body as a view. */
  rest(): Buffer {
    return this.bytes(this.end - this.pos);
  }

  /**
   * A length-prefixed value (int32 length, then the bytes): returns the length, -1 for NULL, and
   * moves past it; the bytes are buf[valueStart, position). Lengths below -1 are refused.
   */
  value(): number {
    const len = this.int32();
    if (len < 0) {
      if (len !== -1) throw new FieldError(`${this.what} has an invalid value length ${len}`);
      this.valueStart = this.pos;
      return -1;
    }
    this.valueStart = this.need(len);
    return len;
  }

  /** `value()` as a view into the buffer, or null for NULL. */
  valueBytes(): Buffer | null {
    const len = this.value();
    return len < 0 ? null : this.buf.subarray(this.valueStart, this.pos);
  }

  /** For messages that must be consumed exactly (pq_getmsgend): bytes left over are refused. */
  expectEnd(): void {
    if (this.pos !== this.end) throw new FieldError(`${this.what} has ${this.end - this.pos} bytes too many`);
  }
}
