// The integrity chain over the append-only `records` table.
//
// digest(n) = SHA-256(digest(n-1) || canonical(n)), digest(0) = 32 zero bytes. The canonical
// bytes carry the previous record's id as well as the record's own id, so a deleted record shows
// up as a gap even where someone recomputed nothing, and every variable-length field is
// length-prefixed so that no two different records share an encoding.

import { createHash } from 'node:crypto';

/** Bumped if the canonical encoding ever changes; it is the first canonical byte. */
const CHAIN_FORMAT = 1;

export const DIGEST_BYTES = 32;

/** The chain's starting point: before record 1 (or after the last checkpointed record). */
export const GENESIS: ChainLink = { id: 0, digest: Buffer.alloc(DIGEST_BYTES) };

/** A position in the chain: a record id and its digest. */
export interface ChainLink {
  readonly id: number;
  readonly digest: Buffer;
}

/** The chained columns of one record. */
export interface RecordFields {
  id: number;
  kind: string;
  sessionId: string;
  tUs: number;
  body: Buffer;
}

/** A row of `records` as SQLite returns it (types unchecked: the file may have been edited). */
export interface RecordRow {
  id: unknown;
  kind: unknown;
  session_id: unknown;
  t_us: unknown;
  digest: unknown;
  body: unknown;
}

export interface ChainWalk {
  /** Records that verified, in order. */
  records: number;
  /** The last record that verified (GENESIS/the checkpoint when none did). */
  head: ChainLink;
  firstBad?: { id: number; reason: string };
}

/**
 * Writes a safe integer as a big-endian signed 64-bit value without going through BigInt
 * (this runs for every record on the hot path).
 */
export function writeInt64(buf: Buffer, value: number, offset: number): void {
  const hi = Math.floor(value / 0x1_0000_0000);
  buf.writeInt32BE(hi, offset);
  buf.writeUInt32BE(value - hi * 0x1_0000_0000, offset + 4);
}

export function readInt64(buf: Buffer, offset: number): number {
  return buf.readInt32BE(offset) * 0x1_0000_0000 + buf.readUInt32BE(offset + 4);
}

/** SHA-256(prev.digest || format, prevId, id, kind, sessionId, tUs, body), fields length-prefixed. */
export function recordDigest(prev: ChainLink, rec: RecordFields): Buffer {
  const kindLen = Buffer.byteLength(rec.kind, 'utf8');
  const sidLen = Buffer.byteLength(rec.sessionId, 'utf8');
  const head = Buffer.allocUnsafe(1 + 8 + 8 + 4 + kindLen + 4 + sidLen + 8 + 4);
  let o = head.writeUInt8(CHAIN_FORMAT, 0);
  writeInt64(head, prev.id, o);
  writeInt64(head, rec.id, o + 8);
  o = head.writeUInt32BE(kindLen, o + 16);
  o += head.write(rec.kind, o, 'utf8');
  o = head.writeUInt32BE(sidLen, o);
  o += head.write(rec.sessionId, o, 'utf8');
  writeInt64(head, rec.tUs, o);
  head.writeUInt32BE(rec.body.length, o + 8);
  return createHash('sha256').update(prev.digest).update(head).update(rec.body).digest();
}

/**
 * Records that retention removed, as the chain's own `prune` records declare them: which ids
 * are gone, and the digest of the last record of every removed run (the link the next remaining
 * record was chained to). See retention.ts.
 */
export interface PrunedRanges {
  /** The first id in [first, last] that was not declared removed; undefined if all were. */
  firstUncovered(first: number, last: number): number | undefined;
  /** The declared digest of record `id`, when it ended a removed run. */
  link(id: number): Buffer | undefined;
}

/**
 * Walks rows in id order from `start`, recomputing every digest. Stops at the first bad record:
 * a missing id (reported as the first missing id), a value of the wrong type, or a digest that
 * does not match (content, kind, session, time or position changed). A gap in the ids is only
 * accepted where `pruned` declares every missing id removed and gives the link to continue from.
 */
export function walkChain(rows: Iterable<RecordRow>, start: ChainLink, pruned?: PrunedRanges): ChainWalk {
  let prev = start;
  let records = 0;
  const bad = (id: number, reason: string): ChainWalk => ({ records, head: prev, firstBad: { id, reason } });
  for (const row of rows) {
    const expected = prev.id + 1;
    if (typeof row.id === 'number' && row.id > expected && pruned) {
      const missing = pruned.firstUncovered(expected, row.id - 1);
      if (missing !== undefined) {
        return bad(
          missing,
          `record ${missing} is missing (not removed by retention; the chain jumps from ${prev.id} to ${row.id})`,
        );
      }
      const link = pruned.link(row.id - 1);
      if (!link)
        return bad(
          row.id,
          `records ${expected}..${row.id - 1} were pruned but no link to record ${row.id} was kept`,
        );
      prev = { id: row.id - 1, digest: link };
    }
    if (typeof row.id !== 'number' || row.id !== prev.id + 1) {
      const reason =
        typeof row.id === 'number' && row.id > expected
          ? `record ${expected} is missing (the chain jumps from ${prev.id} to ${row.id})`
          : `record id ${String(row.id)} is out of order`;
      return bad(expected, reason);
    }
    const { kind, session_id: sessionId, t_us: tUs, body, digest } = row;
    if (
      typeof kind !== 'string' ||
      typeof sessionId !== 'string' ||
      typeof tUs !== 'number' ||
      !Number.isSafeInteger(tUs) ||
      !Buffer.isBuffer(body) ||
      !Buffer.isBuffer(digest)
    ) {
      return bad(row.id, 'a column holds a value of the wrong type');
    }
    const computed = recordDigest(prev, { id: row.id, kind, sessionId, tUs, body });
    if (!computed.equals(digest)) {
      return bad(row.id, 'digest mismatch: the record was changed, replaced or moved');
    }
    prev = { id: row.id, digest };
    records++;
  }
  return { records, head: prev };
}
