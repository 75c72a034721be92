// PostgreSQL built-in type OIDs (pg_type.dat) and how masking treats each: which types carry
// free text (value detectors apply), which have a binary format the strategies can write, and
// the element type of the built-in array types.

export const OID = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  xml: 142,
  float4: 700,
  float8: 701,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  uuid: 2950,
  record: 2249,
  tsvector: 3614,
  jsonb: 3802,
  money: 790,
  cstring: 2275,
  refcursor: 1790,
  pgNodeTree: 194,
  int4range: 3904,
  numrange: 3906,
  tsrange: 3908,
  tstzrange: 3910,
  daterange: 3912,
  int8range: 3926,
} as const;

/** Built-in range type -> its subtype. */
export const RANGE_ELEMENT: ReadonlyMap<number, number> = new Map([
  [OID.int4range, OID.int4],
  [OID.numrange, OID.numeric],
  [OID.tsrange, OID.timestamp],
  [OID.tstzrange, OID.timestamptz],
  [OID.daterange, OID.date],
  [OID.int8range, OID.int8],
]);

/** Built-in multirange type -> its range type. */
export const MULTIRANGE_RANGE: ReadonlyMap<number, number> = new Map([
  [4451, OID.int4range],
  [4532, OID.numrange],
  [4533, OID.tsrange],
  [4534, OID.tstzrange],
  [4535, OID.daterange],
  [4536, OID.int8range],
]);

/**
 * Built-in types whose values hold no text in either format: fixed-shape numbers, times,
 * addresses, bits. No detector can match their text (too few digits in a row, or a fixed
 * layout of hex and separators), so they are never scanned (the row path stays cheap).
 */
const FIXED = new Set<number>([
  18, // "char": one byte
  26, // oid
  27, // tid
  28, // xid
  29, // cid
  1266, // timetz
  1186, // interval
  3220, // pg_lsn
  5069, // xid8
  829, // macaddr
  774, // macaddr8
  869, // inet
  650, // cidr
  // Not bit / varbit: any length, and their binary form is raw bytes (text cast to bit through
  // hex comes out as its own bytes): scanned as 'other'.
]);

/** reg* types: an OID in binary, an object NAME in text (which a cast of a value can produce). */
const OIDREF = new Set<number>([24, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191]);

/** The first OID of a user-defined object (FirstNormalObjectId). */
export const FIRST_USER_OID = 16384;

/** Built-in array type -> element type. */
export const ARRAY_ELEMENT: ReadonlyMap<number, number> = new Map([
  [1000, 16],
  [1001, 17],
  [1002, 18],
  [1003, 19],
  [1005, 21],
  [1007, 23],
  [1009, 25],
  [1014, 1042],
  [1015, 1043],
  [1016, 20],
  [1021, 700],
  [1022, 701],
  [1028, 26],
  [1182, 1082],
  [1115, 1114],
  [1185, 1184],
  [1231, 1700],
  [2951, 2950],
  [199, 114],
  [3807, 3802],
  [2287, 2249],
  [143, 142],
  [1183, 1083],
  // Arrays of ranges and multiranges.
  [3905, 3904],
  [3907, 3906],
  [3909, 3908],
  [3911, 3910],
  [3913, 3912],
  [3927, 3926],
  [6150, 4451],
  [6151, 4532],
  [6152, 4533],
  [6153, 4534],
  [6155, 4535],
  [6157, 4536],
  [791, 790], // money[]
  [1263, 2275], // cstring[]
  [2201, 1790], // refcursor[]
]);

/** Types whose text is free text (and whose binary format is that same text). */
const TEXTUAL = new Set<number>([
  OID.name,
  OID.text,
  OID.unknown,
  OID.bpchar,
  OID.varchar,
  OID.xml,
  OID.json,
  OID.cstring,
  OID.refcursor,
  OID.pgNodeTree,
]);

export type TypeKind =
  /** text, varchar, bpchar, name, unknown, xml, and user types of the string category (citext) */
  | 'text'
  | 'json'
  | 'jsonb'
  | 'int2'
  | 'int4'
  | 'int8'
  | 'float4'
  | 'float8'
  | 'numeric'
  | 'uuid'
  | 'date'
  | 'timestamp'
  | 'timestamptz'
  | 'bytea'
  | 'bool'
  /** an array (built-in or user): elements are masked one by one */
  | 'array'
  /** a composite / record value */
  | 'record'
  /** an enum (binary = text label) */
  | 'enum'
  /** text output may hold free text (tsvector, user types of unknown shape) but nothing to rewrite in binary */
  | 'opaque-text'
  /** money: an int8 of cents in binary, "$1,234.56" in text */
  | 'money'
  /** a built-in range (binary: flags and bounds) */
  | 'range'
  /** a built-in multirange (binary: count and ranges) */
  | 'multirange'
  /** reg* types: an OID in binary, an object name in text */
  | 'oidref'
  /** fixed-shape values with no text (see FIXED): never scanned */
  | 'fixed'
  /** numbers, times, network addresses, geometry...: no free text, no masking beyond NULL */
  | 'other';

/** What the gateway knows about user-defined types (from the catalog), by OID. */
export interface UserTypes {
  kind(oid: number): 'string' | 'enum' | 'composite' | 'array' | null;
  /** Element type of a user array type. */
  element?(oid: number): number | null;
}

export function typeKind(oid: number, user?: UserTypes | null): TypeKind {
  switch (oid) {
    case OID.name:
    case OID.text:
    case OID.unknown:
    case OID.bpchar:
    case OID.varchar:
    case OID.xml:
    case OID.cstring:
    case OID.refcursor:
    case OID.pgNodeTree:
      return 'text';
    case OID.money:
      return 'money';
    case OID.json:
      return 'json';
    case OID.jsonb:
      return 'jsonb';
    case OID.int2:
      return 'int2';
    case OID.int4:
      return 'int4';
    case OID.int8:
      return 'int8';
    case OID.float4:
      return 'float4';
    case OID.float8:
      return 'float8';
    case OID.numeric:
      return 'numeric';
    case OID.uuid:
      return 'uuid';
    case OID.date:
      return 'date';
    case OID.timestamp:
      return 'timestamp';
    case OID.timestamptz:
      return 'timestamptz';
    case OID.bytea:
      return 'bytea';
    case OID.bool:
      return 'bool';
    case OID.record:
      return 'record';
    case OID.tsvector:
      return 'opaque-text';
  }
  if (ARRAY_ELEMENT.has(oid)) return 'array';
  if (RANGE_ELEMENT.has(oid)) return 'range';
  if (MULTIRANGE_RANGE.has(oid)) return 'multirange';
  if (FIXED.has(oid)) return 'fixed';
  if (OIDREF.has(oid)) return 'oidref';
  if (oid >= FIRST_USER_OID) {
    const k = user?.kind(oid) ?? null;
    if (k === 'string') return 'text';
    if (k === 'enum') return 'enum';
    if (k === 'composite') return 'record';
    if (k === 'array') return 'array';
    return 'opaque-text';
  }
  return 'other';
}

/**
 * True when the value detectors may REPLACE SPANS inside a value of this type in this format
 * (bytea: its bytes), which keeps it a valid value of the type: free text. Values of other
 * types are still scanned by plan.ts detectOp, which masks them whole on a match.
 */
export function detectable(kind: TypeKind, format: number): boolean {
  switch (kind) {
    case 'text':
    case 'json':
    case 'jsonb':
    case 'array':
    case 'record':
    case 'enum':
    case 'bytea':
      return true;
    case 'opaque-text':
      return format === 0;
    default:
      return false;
  }
}

export function isTextual(oid: number): boolean {
  return TEXTUAL.has(oid);
}

/** varchar(n) / bpchar(n): n, from the type modifier; null when unbounded. */
export function charLimit(typeOid: number, typmod: number): number | null {
  if ((typeOid === OID.varchar || typeOid === OID.bpchar) && typmod >= 4) return typmod - 4;
  return null;
}

/** numeric(p, s): [p, s] from the type modifier; null when unconstrained. */
export function numericPrecision(typmod: number): [number, number] | null {
  if (typmod < 4) return null;
  const t = typmod - 4;
  return [(t >> 16) & 0xffff, ((t & 0x7ff) ^ 1024) - 1024];
}

/** Common type names (as written in casts) -> OID, for lineage through `::type`. */
export const TYPE_NAMES: ReadonlyMap<string, number> = new Map([
  ['text', OID.text],
  ['varchar', OID.varchar],
  ['bpchar', OID.bpchar],
  ['name', OID.name],
  ['json', OID.json],
  ['jsonb', OID.jsonb],
  ['int2', OID.int2],
  ['int4', OID.int4],
  ['int8', OID.int8],
  ['float4', OID.float4],
  ['float8', OID.float8],
  ['numeric', OID.numeric],
  ['uuid', OID.uuid],
  ['date', OID.date],
  ['timestamp', OID.timestamp],
  ['timestamptz', OID.timestamptz],
  ['bytea', OID.bytea],
  ['bool', OID.bool],
  ['xml', OID.xml],
  ['money', OID.money],
  ['int8range', OID.int8range],
  ['numrange', OID.numrange],
  ['tsvector', OID.tsvector],
]);
