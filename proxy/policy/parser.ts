// The real PostgreSQL parser (libpg-query, compiled to WASM). The module is loaded once, at start
// (`initPolicyEngine`); after that every call here is synchronous. Parse trees are plain JSON in
// the shape of PostgreSQL's raw parse nodes: `{ "SelectStmt": { ... } }`.
// Locations in the trees (stmt_location, stmt_len, token offsets) count UTF-8 bytes, not UTF-16
// code units: `Utf8Text` converts.

import { loadModule, parsePlPgSQLSync, parseSync, scanSync } from 'libpg-query';

let ready = false;
let loading: Promise<void> | null = null;

/**
 * Loads the parser. Await it once before the first analysis (the core does so at start).
 *
 * Which compiler V8 uses for its WebAssembly is the host's process setting, made before this
 * (proxy/runtime.ts: the gateway keeps it on the baseline compiler, to bound its memory).
 */
export function initPolicyEngine(): Promise<void> {
  if (ready) return Promise.resolve();
  if (loading === null) {
    loading = loadModule().then(() => {
      ready = true;
    });
  }
  return loading;
}

export function policyEngineReady(): boolean {
  return ready;
}

function ensureReady(): void {
  if (!ready) throw new Error('the policy engine is not initialised (await initPolicyEngine() first)');
}

/** A JSON parse-tree node: `{ TypeName: fields }`, a list, or a scalar. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

// Walking libpg-query's JSON parse tree: nodes are `{ TypeName: body }` objects.

export function isObj(v: Json | undefined): v is JsonObject {
  return v !== null && v !== undefined && typeof v === 'object' && !Array.isArray(v);
}

/** `{ Type: body }` -> [Type, body]; null for anything else. */
export function wrapper(v: Json | undefined): [string, JsonObject] | null {
  if (!isObj(v)) return null;
  const keys = Object.keys(v);
  if (keys.length !== 1) return null;
  const k = keys[0];
  const c = k.charCodeAt(0);
  if (c < 65 || c > 90) return null;
  const body = v[k];
  return isObj(body) ? [k, body] : null;
}

/** A plain array or a `List` node's items. */
export function list(v: Json | undefined): Json[] {
  if (Array.isArray(v)) return v;
  const w = wrapper(v);
  if (w && w[0] === 'List' && Array.isArray(w[1].items)) return w[1].items;
  return [];
}

/** A `String` node's value. */
/**
 * The parts of a dotted name without its database: PostgreSQL reads `db.schema.name` as
 * `schema.name` once `db` is the current database (any other is an error).
 */
export function withoutCatalog(parts: string[]): string[] {
  return parts.length === 3 ? parts.slice(1) : parts;
}

export function sval(v: Json | undefined): string | null {
  const w = wrapper(v);
  if (w && w[0] === 'String' && typeof w[1].sval === 'string') return w[1].sval;
  return null;
}

export interface RawStatement {
  stmt: JsonObject;
  /** Byte offset of the statement's first token (0 when absent). */
  stmt_location?: number;
  /** Byte length; absent (or 0) means "to the end of the text". */
  stmt_len?: number;
}

/** The parser refused the text. */
export class SqlSyntaxError extends Error {
  constructor(
    message: string,
    /** 0-based character offset of the error in the text, when known. */
    readonly position: number | null,
  ) {
    super(message);
  }
}

/** Text with a lazily built UTF-8 view, to turn the parser's byte offsets into string slices. */
export class Utf8Text {
  private bytes: Buffer | null = null;
  readonly ascii: boolean;

  constructor(readonly text: string) {
    this.ascii = /^[\x00-\x7f]*$/.test(text);
  }

  get byteLength(): number {
    return this.ascii ? this.text.length : this.buf().length;
  }

  private buf(): Buffer {
    this.bytes ??= Buffer.from(this.text, 'utf8');
    return this.bytes;
  }

  /** The text between two byte offsets. */
  slice(startByte: number, endByte?: number): string {
    if (this.ascii) return this.text.slice(startByte, endByte);
    return this.buf().subarray(startByte, endByte).toString('utf8');
  }

  /** Character offset of a byte offset. */
  charOffset(byte: number): number {
    if (this.ascii) return byte;
    return this.buf().subarray(0, byte).toString('utf8').length;
  }
}

/** Parses SQL text into raw statements. Throws SqlSyntaxError. An empty text has no statements. */
export function parseSql(text: string): RawStatement[] {
  ensureReady();
  if (text.length === 0) return [];
  try {
    const r = parseSync(text) as unknown as { stmts?: RawStatement[] };
    return r.stmts ?? [];
  } catch (e) {
    const details = (e as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    const pos = typeof details?.cursorPosition === 'number' ? details.cursorPosition : null;
    throw new SqlSyntaxError((e as Error).message || 'syntax error', pos);
  }
}

/** Parses one CREATE FUNCTION / PROCEDURE statement in LANGUAGE plpgsql. Throws SqlSyntaxError. */
export function parsePlpgsql(createFunctionText: string): JsonObject[] {
  ensureReady();
  try {
    const r = parsePlPgSQLSync(createFunctionText) as unknown as { plpgsql_funcs?: JsonObject[] };
    return r.plpgsql_funcs ?? [];
  } catch (e) {
    throw new SqlSyntaxError((e as Error).message || 'PL/pgSQL syntax error', null);
  }
}

export interface Token {
  /** Byte offsets. */
  start: number;
  end: number;
  text: string;
  tokenName: string;
}

/** PostgreSQL's lexer. Throws SqlSyntaxError (an unterminated literal or comment, ...). */
export function scanSql(text: string): Token[] {
  ensureReady();
  if (text.length === 0) return [];
  try {
    return (scanSync(text) as unknown as { tokens?: Token[] }).tokens ?? [];
  } catch (e) {
    throw new SqlSyntaxError((e as Error).message.split('\n')[0] || 'lexical error', null);
  }
}
