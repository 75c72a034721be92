// The stored form of frame chunks, and splitting them back into frames.
//
// A `frames` record's body is a fixed binary header followed by the frames' wire bytes as they
// arrived, so that appending costs one copy and no per-frame work beyond a length walk.
// Format 1 holds one socket read (one direction, one timestamp):
//   u8 1 | u8 dir (0 client, 1 server) | u32 count | i64 seq | i64 tUs | data
// Format 2 holds several reads of one session whose frames follow each other (the recording
// writer joins them: one record and one index row instead of one per read; see chunk-join.ts).
// The header is format 1's, with dir 2 when the parts go both ways; each part is one read:
//   u8 2 | u8 dir (0, 1 or 2 mixed) | u32 count | i64 seq | i64 tUs | part...
//   part: u8 dir | u32 count | i64 tUs | u32 bytes | data
// Inside `data`, every frame is: type byte, int32 length (counting itself), body. Startup
// packets have no type byte on the wire and are stored with type 0x00, so one parser reads both.

import type { Direction } from '../../shared/types.js';
import { readInt64, writeInt64 } from './chain.js';
import type { FrameChunk, StoredFrame } from './types.js';

const CHUNK_FORMAT = 1;
const PARTS_FORMAT = 2;
const MIXED = 2;

export const CHUNK_HEADER_BYTES = 22;
const PART_HEADER_BYTES = 17;

export interface ChunkHeader {
  seq: number;
  count: number;
  /** 'mixed' for a format 2 body whose parts go both ways. */
  dir: Direction | 'mixed';
  /** The first part's, in format 2. */
  tUs: number;
}

/**
 * Checks a chunk before it is stored: the header fields are sane and `data` holds exactly
 * `count` whole frames. A malformed chunk would make `readFrames` fail later, long after the
 * bug that produced it, so it is refused at the door.
 */
export function validateChunk(chunk: FrameChunk): void {
  const where = `frames chunk (session ${String(chunk.sessionId)}, seq ${String(chunk.seq)})`;
  if (typeof chunk.sessionId !== 'string' || chunk.sessionId === '') {
    throw new TypeError(`${where}: sessionId must be a non-empty string`);
  }
  if (!Number.isSafeInteger(chunk.seq) || chunk.seq < 0) {
    throw new TypeError(`${where}: seq must be a non-negative integer`);
  }
  if (!Number.isSafeInteger(chunk.tUs)) throw new TypeError(`${where}: tUs must be an integer`);
  if (chunk.dir !== 'client' && chunk.dir !== 'server') {
    throw new TypeError(`${where}: dir must be 'client' or 'server'`);
  }
  if (!Number.isInteger(chunk.count) || chunk.count < 1 || chunk.count > 0xffff_ffff) {
    throw new TypeError(`${where}: count must be a positive integer`);
  }
  if (!Buffer.isBuffer(chunk.data)) throw new TypeError(`${where}: data must be a Buffer`);
  const found = countFrames(chunk.data);
  if (found !== chunk.count) {
    throw new RangeError(`${where}: count is ${chunk.count} but data holds ${found} frames`);
  }
}

/** Number of whole frames in `data`; throws if the last one is cut short or a length is invalid. */
export function countFrames(data: Buffer): number {
  let n = 0;
  let o = 0;
  while (o < data.length) {
    if (o + 5 > data.length) throw new RangeError(`frame ${n} at byte ${o} is truncated`);
    const len = data.readInt32BE(o + 1);
    if (len < 4 || o + 1 + len > data.length) {
      throw new RangeError(`frame ${n} at byte ${o} has an invalid length ${len}`);
    }
    o += 1 + len;
    n++;
  }
  return n;
}

export function encodeChunkBody(chunk: FrameChunk, scratch?: Buffer): Buffer {
  const size = CHUNK_HEADER_BYTES + chunk.data.length;
  const body = into(scratch, size);
  writeHeader(body, CHUNK_FORMAT, dirByte(chunk.dir), chunk.count, chunk.seq, chunk.tUs);
  chunk.data.copy(body, CHUNK_HEADER_BYTES);
  return body;
}

/**
 * Format 2: `parts` (validated chunks of one session) each start at the seq after the previous
 * one's last frame; throws if they do not.
 */
export function encodePartsBody(parts: readonly FrameChunk[], scratch?: Buffer): Buffer {
  let size = CHUNK_HEADER_BYTES;
  let count = 0;
  let dir = dirByte(parts[0].dir);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (i > 0 && (p.sessionId !== parts[0].sessionId || p.seq !== parts[i - 1].seq + parts[i - 1].count)) {
      throw new RangeError(`frame chunks of session ${p.sessionId} do not follow each other at seq ${p.seq}`);
    }
    if (dirByte(p.dir) !== dir) dir = MIXED;
    size += PART_HEADER_BYTES + p.data.length;
    count += p.count;
  }
  const body = into(scratch, size);
  writeHeader(body, PARTS_FORMAT, dir, count, parts[0].seq, parts[0].tUs);
  let o = CHUNK_HEADER_BYTES;
  for (const p of parts) {
    body.writeUInt8(dirByte(p.dir), o);
    body.writeUInt32BE(p.count, o + 1);
    writeInt64(body, p.tUs, o + 5);
    body.writeUInt32BE(p.data.length, o + 13);
    p.data.copy(body, o + PART_HEADER_BYTES);
    o += PART_HEADER_BYTES + p.data.length;
  }
  return body;
}

function into(scratch: Buffer | undefined, size: number): Buffer {
  return scratch !== undefined && scratch.length >= size
    ? scratch.subarray(0, size)
    : Buffer.allocUnsafe(size);
}

function dirByte(dir: Direction): number {
  return dir === 'client' ? 0 : 1;
}

function writeHeader(
  body: Buffer,
  format: number,
  dir: number,
  count: number,
  seq: number,
  tUs: number,
): void {
  body.writeUInt8(format, 0);
  body.writeUInt8(dir, 1);
  body.writeUInt32BE(count, 2);
  writeInt64(body, seq, 6);
  writeInt64(body, tUs, 14);
}

/** Reads the header; throws on an unknown format (a record written by a newer Bastion, or damage). */
export function decodeChunkHeader(body: Buffer): ChunkHeader {
  const format = body.length >= CHUNK_HEADER_BYTES ? body[0] : 0;
  const dir = body[1];
  if ((format !== CHUNK_FORMAT || dir > 1) && (format !== PARTS_FORMAT || dir > MIXED)) {
    throw new RangeError('not a frame chunk record body');
  }
  return {
    dir: dir === 0 ? 'client' : dir === 1 ? 'server' : 'mixed',
    count: body.readUInt32BE(2),
    seq: readInt64(body, 6),
    tUs: readInt64(body, 14),
  };
}

/**
 * Appends the frames of one stored chunk with seq >= fromSeq to `out`, until `out` holds `limit`
 * frames. Bodies are views into `body` (no copy).
 */
export function splitChunk(body: Buffer, fromSeq: number, limit: number, out: StoredFrame[]): void {
  const { seq, count, dir, tUs } = decodeChunkHeader(body);
  if (body[0] === CHUNK_FORMAT) {
    splitFrames(
      body,
      CHUNK_HEADER_BYTES,
      body.length,
      seq,
      count,
      dir as Direction,
      tUs,
      fromSeq,
      limit,
      out,
    );
    return;
  }
  let o = CHUNK_HEADER_BYTES;
  let at = seq;
  while (at < seq + count && out.length < limit) {
    if (o + PART_HEADER_BYTES > body.length) throw new RangeError(`stored chunk at seq ${seq} is truncated`);
    const n = body.readUInt32BE(o + 1);
    const end = o + PART_HEADER_BYTES + body.readUInt32BE(o + 13);
    if (body[o] > 1 || n < 1 || at + n > seq + count || end > body.length) {
      throw new RangeError(`stored chunk at seq ${seq} is malformed`);
    }
    // A part wholly before fromSeq is skipped without walking its frames.
    if (at + n > fromSeq) {
      const partDir: Direction = body[o] === 0 ? 'client' : 'server';
      splitFrames(
        body,
        o + PART_HEADER_BYTES,
        end,
        at,
        n,
        partDir,
        readInt64(body, o + 5),
        fromSeq,
        limit,
        out,
      );
    }
    at += n;
    o = end;
  }
  if (out.length < limit && (at !== seq + count || o !== body.length)) {
    throw new RangeError(`stored chunk at seq ${seq} is malformed`);
  }
}

/** The `count` frames in body[o, end), the first being `seq`. */
function splitFrames(
  body: Buffer,
  o: number,
  end: number,
  seq: number,
  count: number,
  dir: Direction,
  tUs: number,
  fromSeq: number,
  limit: number,
  out: StoredFrame[],
): void {
  let i = 0;
  for (; i < count && out.length < limit; i++) {
    if (o + 5 > end) throw new RangeError(`stored chunk at seq ${seq} is truncated`);
    const type = body[o];
    const len = body.readInt32BE(o + 1);
    const next = o + 1 + len;
    if (len < 4 || next > end) throw new RangeError(`stored chunk at seq ${seq} is malformed`);
    if (seq + i >= fromSeq) out.push({ seq: seq + i, tUs, dir, type, body: body.subarray(o + 5, next) });
    o = next;
  }
  if (i === count && o !== end) throw new RangeError(`stored chunk at seq ${seq} is malformed`);
}
