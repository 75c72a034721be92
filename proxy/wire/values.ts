// Binary values (PostgreSQL's *_send formats) read as its *_recv functions read them, through the
// bounded reader: a value is read over its own bytes (start, end), never the row's or the
// buffer's, so a count or length that lies runs out of value and throws FieldError instead of
// reading a neighbour. What array_recv / record_recv check, checked here too:
//   - arrays: 0..MAXDIM (6) dimensions, flags 0 or 1, every dimension >= 0, their product at most
//     MaxArraySize, lower bound + size within int32 (ArrayGetNItems, ArrayCheckBounds);
//   - records: 0..MaxTupleAttributeNumber fields;
//   - element lengths: -1 is NULL, any other negative length refused, none past the value;
//   - nothing after the last element (the caller's expectEnd: a Bind parameter must be consumed
//     exactly, and the masker must not pass on bytes it never looked at).
// Containers nest (arrays of records of arrays): one reader per nesting level, taken from a pool
// and given back, so reading a value allocates nothing; the depth is bounded.

import { BodyReader, FieldError } from './reader.js';

/** Most dimensions an array can have (PostgreSQL's MAXDIM). */
export const MAXDIM = 6;
/** Most elements an array can have (MaxArraySize: MaxAllocSize / sizeof(Datum)). */
export const MAX_ARRAY_ITEMS = Math.floor(0x3fffffff / 8);
/** Most fields a record can have (MaxTupleAttributeNumber). */
export const MAX_RECORD_FIELDS = 1664;
/** Deepest nesting of containers read (the recursion masking does follows it). */
export const MAX_VALUE_DEPTH = 32;

export class ValueReader extends BodyReader {
  /** The element type of the array whose header was read last. */
  elemOid = 0;
  /** The type of the record field read last. */
  fieldOid = 0;

  /**
   * array_send's header: ndim, flags, element type, (size, lower bound) * ndim. Returns the
   * number of elements, which the rest of the value can hold (4 bytes each at least).
   */
  arrayHeader(): number {
    const ndim = this.int32();
    if (ndim < 0 || ndim > MAXDIM)
      throw new FieldError(`${this.what} has ${ndim} dimensions (at most ${MAXDIM})`);
    const flags = this.int32();
    if (flags !== 0 && flags !== 1) throw new FieldError(`${this.what} has invalid flags ${flags}`);
    this.elemOid = this.uint32();
    let n = ndim === 0 ? 0 : 1;
    for (let d = 0; d < ndim; d++) {
      const size = this.int32();
      const lb = this.int32();
      if (size < 0 || size > MAX_ARRAY_ITEMS)
        throw new FieldError(`${this.what} has a dimension of size ${size}`);
      if (lb + size > 0x7fffffff) throw new FieldError(`${this.what} has a lower bound too large: ${lb}`);
      n *= size;
      if (n > MAX_ARRAY_ITEMS) throw new FieldError(`${this.what} has more than ${MAX_ARRAY_ITEMS} elements`);
    }
    if (n > (this.end - this.pos) / 4) throw new FieldError(`${this.what} is truncated (${n} elements)`);
    return n;
  }

  /** record_send's field count; the rest of the value can hold them (8 bytes each at least). */
  recordHeader(): number {
    const n = this.int32();
    if (n < 0 || n > MAX_RECORD_FIELDS) throw new FieldError(`${this.what} has ${n} fields`);
    if (n > (this.end - this.pos) / 8) throw new FieldError(`${this.what} is truncated (${n} fields)`);
    return n;
  }

  /** A record field: its type into fieldOid, then its value as `value()` reads it. */
  field(): number {
    this.fieldOid = this.uint32();
    return this.value();
  }
}

const POOL: ValueReader[] = [];
let depth = 0;

/**
 * A reader over one value, buf[start, end). Every openValue is paired with a closeValue (in a
 * `finally`): the reader goes back to the pool for the next value at this depth.
 */
export function openValue(buf: Buffer, start: number, end: number, what: string): ValueReader {
  if (depth >= MAX_VALUE_DEPTH) throw new FieldError(`${what} is nested more than ${MAX_VALUE_DEPTH} deep`);
  let r = POOL[depth];
  if (r === undefined) {
    r = new ValueReader();
    POOL[depth] = r;
  }
  r.reset(buf, start, end, what);
  depth++;
  return r;
}

export function closeValue(): void {
  depth--;
}
