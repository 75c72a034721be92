// Builders and a strict reader of PostgreSQL binary values (array_send, record_send,
// numeric_send) for the masking tests, independent of the engine. The builders write exactly what
// they are told, lies included (counts, lengths, dimensions); the reader checks what PostgreSQL's
// receive functions check and throws a plain Error otherwise.

export function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}

/** One length-prefixed element: its bytes, NULL, or a bare (lying) length with no bytes. */
export type Elem = Buffer | string | null | { len: number };

export function elem(e: Elem): Buffer {
  if (e === null) return i32(-1);
  if (typeof e === 'object' && !Buffer.isBuffer(e)) return i32(e.len);
  const b = typeof e === 'string' ? Buffer.from(e, 'utf8') : e;
  return Buffer.concat([i32(b.length), b]);
}

export interface ArraySpec {
  elemOid?: number;
  /** (size, lower bound) per dimension. */
  dims: [number, number][];
  elems: Elem[];
  /** Overrides the dimension count written (default dims.length). */
  ndim?: number;
  /** The has-null flag (default: 1 when an element is NULL). */
  flags?: number;
  /** Bytes after the elements. */
  trailing?: Buffer;
}

/** array_send layout: ndim, flags, element type, (size, lower bound) * ndim, elements. */
export function binArray(s: ArraySpec): Buffer {
  return Buffer.concat([
    i32(s.ndim ?? s.dims.length),
    i32(s.flags ?? (s.elems.some((e) => e === null) ? 1 : 0)),
    i32(s.elemOid ?? 25),
    ...s.dims.flatMap(([n, lb]) => [i32(n), i32(lb)]),
    ...s.elems.map(elem),
    s.trailing ?? Buffer.alloc(0),
  ]);
}

/** A one-dimensional array, lower bound 1. */
export const array1 = (elemOid: number, elems: Elem[]): Buffer =>
  binArray({ elemOid, dims: [[elems.length, 1]], elems });

/** record_send layout: nfields, (type, element) * n. */
export function binRecord(
  fields: [number, Elem][],
  opts: { count?: number; trailing?: Buffer } = {},
): Buffer {
  return Buffer.concat([
    i32(opts.count ?? fields.length),
    ...fields.flatMap(([oid, e]) => [i32(oid), elem(e)]),
    opts.trailing ?? Buffer.alloc(0),
  ]);
}

/** numeric_send layout: ndigits, weight, sign, dscale, base-10000 digits (all 16-bit). */
export function binNumeric(
  digits: number[],
  weight: number,
  sign: number,
  dscale: number,
  opts: { ndigits?: number; trailing?: Buffer } = {},
): Buffer {
  return Buffer.concat([
    u16(opts.ndigits ?? digits.length),
    u16(weight),
    u16(sign),
    u16(dscale),
    ...digits.map(u16),
    opts.trailing ?? Buffer.alloc(0),
  ]);
}

/** A decoded binary value: arrays and records with their (decoded or raw) elements. */
export type Decoded =
  | { array: { elemOid: number; dims: [number, number][]; elems: (Decoded | Buffer | null)[] } }
  | { record: { oid: number; value: Decoded | Buffer | null }[] };

const ARRAY_OIDS = new Set([1009, 1007, 1231, 1015, 2287]);

export interface DecodeOptions {
  /** Decode nested arrays and records (by their type OIDs) too (default true). */
  deep?: boolean;
  /** Require the has-null flag when an element is NULL, as array_send writes it (default true). */
  nullFlag?: boolean;
}

/**
 * Reads buf[start, end) as array_recv / record_recv would: every count, length and dimension
 * checked, nothing left over.
 */
export function decodeBinary(
  kind: 'array' | 'record',
  buf: Buffer,
  start = 0,
  end = buf.length,
  opts: DecodeOptions = {},
): Decoded {
  const deep = opts.deep ?? true;
  let p = start;
  const need = (n: number) => {
    if (n < 0 || p + n > end) throw new Error(`truncated at ${p - start} (${n} more wanted)`);
    const at = p;
    p += n;
    return at;
  };
  const int = () => buf.readInt32BE(need(4));
  const inner = (oid: number, s: number, e: number): Decoded | Buffer =>
    !deep
      ? buf.subarray(s, e)
      : oid === 2249
        ? decodeBinary('record', buf, s, e, opts)
        : ARRAY_OIDS.has(oid)
          ? decodeBinary('array', buf, s, e, opts)
          : buf.subarray(s, e);
  const value = (oid: number): Decoded | Buffer | null => {
    const len = int();
    if (len === -1) return null;
    if (len < 0) throw new Error(`negative length ${len}`);
    const at = need(len);
    return inner(oid, at, at + len);
  };
  let out: Decoded;
  if (kind === 'array') {
    const ndim = int();
    if (ndim < 0 || ndim > 6) throw new Error(`ndim ${ndim}`);
    const flags = int();
    if (flags !== 0 && flags !== 1) throw new Error(`flags ${flags}`);
    const elemOid = buf.readUInt32BE(need(4));
    const dims: [number, number][] = [];
    let n = ndim === 0 ? 0 : 1;
    for (let d = 0; d < ndim; d++) {
      const size = int();
      const lb = int();
      if (size < 0 || size > 134217727) throw new Error(`dimension ${size}`);
      if (lb + size > 0x7fffffff) throw new Error(`lower bound ${lb}`);
      dims.push([size, lb]);
      n *= size;
      if (n > 134217727) throw new Error(`${n} elements`);
    }
    if (n * 4 > end - p) throw new Error(`${n} elements cannot fit`);
    const elems: (Decoded | Buffer | null)[] = [];
    for (let k = 0; k < n; k++) {
      const v = value(elemOid);
      if (v === null && flags !== 1 && opts.nullFlag !== false)
        throw new Error('a NULL element without the has-null flag');
      elems.push(v);
    }
    out = { array: { elemOid, dims, elems } };
  } else {
    const n = int();
    if (n < 0 || n > 1664) throw new Error(`nfields ${n}`);
    const fields: { oid: number; value: Decoded | Buffer | null }[] = [];
    for (let k = 0; k < n; k++) {
      const oid = buf.readUInt32BE(need(4));
      fields.push({ oid, value: value(oid) });
    }
    out = { record: fields };
  }
  if (p !== end) throw new Error(`${end - p} bytes left over`);
  return out;
}

/** Every leaf (non-container) element's bytes as text, depth first. */
export function leaves(d: Decoded | Buffer | null): (string | null)[] {
  if (d === null) return [null];
  if (Buffer.isBuffer(d)) return [d.toString('utf8')];
  if ('array' in d) return d.array.elems.flatMap(leaves);
  return d.record.flatMap((f) => leaves(f.value));
}

// ---------------------------------------------------------------------------------------------
// Malformed values, each with a secret where a reader that trusts its counts would let it pass.

export const SECRET = 'hidden.person@example.org';
export const ARRAY = 1009; // text[]
export const RECORD = 2249;

/** Malformed arrays (text[] unless said): refused by the codec, the detectors and a column rule. */
export const BAD_ARRAYS: [string, Buffer][] = [
  ['shorter than its header', Buffer.alloc(11)],
  ['dimensions cut off', binArray({ dims: [[1, 1]], ndim: 2, elems: [] })],
  [
    'a negative dimension (its elements skipped, read as none)',
    binArray({ dims: [[-1, 1]], elems: [SECRET] }),
  ],
  [
    'two negative dimensions (their product read as a count)',
    binArray({
      dims: [
        [-1, 1],
        [-1, 1],
      ],
      elems: [SECRET],
    }),
  ],
  ['more elements announced than present', binArray({ dims: [[3, 1]], elems: [SECRET] })],
  [
    'a product of dimensions past MaxArraySize',
    binArray({
      dims: [
        [0x10000, 1],
        [0x10000, 1],
      ],
      elems: [SECRET],
    }),
  ],
  [
    '7 dimensions (MAXDIM is 6)',
    binArray({ dims: Array.from({ length: 7 }, () => [1, 1]), elems: [SECRET] }),
  ],
  ['a negative dimension count', binArray({ dims: [], ndim: -1, elems: [] })],
  [
    'an element length of -2 (not NULL)',
    binArray({ dims: [[1, 1]], elems: [{ len: -2 }], trailing: Buffer.from(SECRET) }),
  ],
  ['an element length past the value', binArray({ dims: [[1, 1]], elems: [{ len: 64 }] })],
  [
    'bytes left over after the elements',
    binArray({ dims: [[1, 1]], elems: ['ok'], trailing: Buffer.from(SECRET) }),
  ],
  [
    'an empty array with bytes after its header',
    binArray({ dims: [], elems: [], trailing: Buffer.from(SECRET) }),
  ],
  ['has-null flag 2', binArray({ dims: [[1, 1]], flags: 2, elems: [SECRET] })],
  ['a lower bound whose upper bound overflows', binArray({ dims: [[2, 0x7fffffff]], elems: ['a', SECRET] })],
  [
    'a nested record (element type record) with bytes left over',
    binArray({
      elemOid: RECORD,
      dims: [[1, 1]],
      elems: [binRecord([[25, 'ok']], { trailing: Buffer.from(SECRET) })],
    }),
  ],
  [
    'a nested array (element type text[]) with a negative dimension',
    binArray({ elemOid: ARRAY, dims: [[1, 1]], elems: [binArray({ dims: [[-1, 1]], elems: [SECRET] })] }),
  ],
];

export const BAD_RECORDS: [string, Buffer][] = [
  ['shorter than its count', Buffer.alloc(3)],
  ['a negative field count (its fields read as none)', binRecord([[25, SECRET]], { count: -1 })],
  ['more fields announced than present', binRecord([[25, SECRET]], { count: 2 })],
  [
    'fewer fields announced than present',
    binRecord(
      [
        [25, 'ok'],
        [25, SECRET],
      ],
      { count: 1 },
    ),
  ],
  ['more fields than a tuple can have (1664)', binRecord([[25, SECRET]], { count: 100_000 })],
  ['a field length of -3 (not NULL)', binRecord([[25, { len: -3 }]], { trailing: Buffer.from(SECRET) })],
  ['a field length past the value', binRecord([[25, { len: 64 }]])],
  ['a field type cut off', Buffer.concat([i32(1), Buffer.from([0, 0])])],
  [
    'a nested record with the wrong field count',
    binRecord([
      [
        RECORD,
        binRecord(
          [
            [25, 'ok'],
            [25, SECRET],
          ],
          { count: 1 },
        ),
      ],
    ]),
  ],
  [
    'a nested array with 7 dimensions',
    binRecord([[ARRAY, binArray({ dims: Array.from({ length: 7 }, () => [1, 1]), elems: [SECRET] })]]),
  ],
];

export const BAD_NUMERICS: [string, Buffer][] = [
  ['shorter than its header', Buffer.alloc(7)],
  ['65,535 digits announced (-1 read signed), none present', binNumeric([], 0, 0, 0, { ndigits: 0xffff })],
  ['more digits announced than present', binNumeric([1234], 0, 0, 0, { ndigits: 2 })],
  ['a digit of 10000 or more', binNumeric([12345], 0, 0, 0)],
  ['a negative digit', binNumeric([0xffff], 0, 0, 0)],
  ['bytes left over after the digits', binNumeric([12], 0, 0, 0, { trailing: Buffer.from([0, 7]) })],
  ['an invalid sign', binNumeric([12], 0, 0x1234, 0)],
  ['a scale past 0x3fff', binNumeric([12], 0, 0, 0x8000)],
  ['NaN with bytes left over', binNumeric([], 0, 0xc000, 0, { trailing: Buffer.from([1, 2]) })],
];
