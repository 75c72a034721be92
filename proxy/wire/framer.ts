// Splits a byte stream of typed protocol messages (type byte + int32 length + body) into
// messages without copying them: each message is reported as (buf, start, end) over the chunk
// it arrived in. Only a message split across reads is copied, once, into a buffer of its exact
// size (the same approach as node-postgres' pg-protocol parser, which keeps one buffer and
// cursors). https://www.postgresql.org/docs/current/protocol-overview.html#PROTOCOL-MESSAGE-CONCEPTS
//
// The buffer of a split message grows with the bytes that actually arrive (doubling from 64 KiB
// up to the message's length), never with what its length field claims: a header announcing
// 1 GiB that is followed by nothing costs 64 KiB, not 1 GiB (issue 19).

const HEADER = 5;
/** First size of a split message's buffer; it doubles as bytes arrive, up to the message's length. */
const FIRST_PARTIAL = 64 * 1024;
const EMPTY = Buffer.alloc(0);

export class MessageTooLargeError extends Error {
  constructor(
    readonly type: number,
    readonly length: number,
    readonly max: number,
  ) {
    super(`message of type '${String.fromCharCode(type)}' is ${length} bytes, more than the limit of ${max}`);
  }
}

export class BadLengthError extends Error {
  constructor(
    readonly type: number,
    readonly length: number,
  ) {
    super(`message of type '${String.fromCharCode(type)}' has an invalid length ${length}`);
  }
}

/**
 * Usage: `framer.push(chunk); while (framer.next()) use(framer.type, framer.buf, framer.start, framer.end)`.
 * Iteration may stop early (a held statement); the rest stays in the framer and a later `next()`
 * resumes there, also after more `push()`es.
 */
export class MessageFramer {
  /** The current message, valid after `next()` returned true. */
  type = 0;
  buf: Buffer = EMPTY;
  start = 0;
  end = 0;

  /** Unread bytes of the chunk being iterated: chunk[pos, chunk.length). */
  private chunk: Buffer = EMPTY;
  private pos = 0;
  /** A message that spans reads, being filled: partial[0, filled) of partialTotal bytes. */
  private partial: Buffer | null = null;
  private filled = 0;
  private partialTotal = 0;
  /** The first bytes of a header that spans reads. */
  private readonly header = Buffer.alloc(HEADER);
  private headerFilled = 0;

  constructor(private readonly maxMessageSize: number) {}

  /** Bytes received but not yet returned by `next()`. */
  get buffered(): number {
    return this.chunk.length - this.pos + this.filled + this.headerFilled;
  }

  push(data: Buffer): void {
    if (this.pos < this.chunk.length) {
      // Iteration stopped mid-chunk: keep the unread rest in front of the new data.
      this.chunk = Buffer.concat([this.chunk.subarray(this.pos), data]);
    } else {
      this.chunk = data;
    }
    this.pos = 0;
  }

  /** Advances to the next complete message. Throws MessageTooLargeError / BadLengthError. */
  next(): boolean {
    if (this.headerFilled > 0 || this.partial !== null) return this.continueSplit();
    const chunk = this.chunk;
    const pos = this.pos;
    const avail = chunk.length - pos;
    if (avail === 0) return false;
    if (avail < HEADER) {
      chunk.copy(this.header, 0, pos);
      this.headerFilled = avail;
      this.pos = chunk.length;
      return false;
    }
    const type = chunk[pos];
    const length = chunk.readInt32BE(pos + 1);
    this.check(type, length);
    const total = length + 1;
    if (total <= avail) {
      this.type = type;
      this.buf = chunk;
      this.start = pos;
      this.end = pos + total;
      this.pos = this.end;
      return true;
    }
    this.beginPartial(type, total);
    this.fill(chunk, pos, avail);
    this.pos = chunk.length;
    return false;
  }

  private check(type: number, length: number): void {
    if (length < 4) throw new BadLengthError(type, length);
    if (length > this.maxMessageSize) throw new MessageTooLargeError(type, length, this.maxMessageSize);
  }

  private beginPartial(type: number, total: number): void {
    this.partial = Buffer.allocUnsafe(Math.min(total, FIRST_PARTIAL));
    this.partial[0] = type;
    this.partialTotal = total;
    this.filled = 0;
  }

  /** Appends src[from, from + n) to the split message, growing its buffer as needed. */
  private fill(src: Buffer, from: number, n: number): void {
    let partial = this.partial as Buffer;
    const need = this.filled + n;
    if (need > partial.length) {
      let size = partial.length;
      while (size < need) size *= 2;
      const grown = Buffer.allocUnsafe(Math.min(size, this.partialTotal));
      partial.copy(grown, 0, 0, this.filled);
      partial = grown;
      this.partial = grown;
    }
    src.copy(partial, this.filled, from, from + n);
    this.filled = need;
  }

  /** Bytes held for a message that has not fully arrived (what its sender has actually sent). */
  get pending(): number {
    return this.filled + this.headerFilled;
  }

  private continueSplit(): boolean {
    const chunk = this.chunk;
    if (this.partial === null) {
      // Complete the header first.
      const need = HEADER - this.headerFilled;
      const take = Math.min(need, chunk.length - this.pos);
      chunk.copy(this.header, this.headerFilled, this.pos, this.pos + take);
      this.headerFilled += take;
      this.pos += take;
      if (this.headerFilled < HEADER) return false;
      const type = this.header[0];
      const length = this.header.readInt32BE(1);
      this.headerFilled = 0;
      this.check(type, length);
      this.beginPartial(type, length + 1);
      this.fill(this.header, 0, HEADER);
    }
    const take = Math.min(this.partialTotal - this.filled, chunk.length - this.pos);
    this.fill(chunk, this.pos, take);
    this.pos += take;
    if (this.filled < this.partialTotal) return false;
    const partial = this.partial as Buffer;
    this.partial = null;
    this.filled = 0;
    this.type = partial[0];
    this.buf = partial;
    this.start = 0;
    this.end = this.partialTotal;
    return true;
  }
}
