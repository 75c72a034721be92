// The stored form of a frame chunk, and splitting it back into frames.
//
// A `frames` record's body is a fixed binary header followed by the chunk's wire bytes as they
// arrived, so that appending costs one copy and no per-frame work beyond a length walk:
//   u8 format | u8 dir (0 client, 1 server) | u32 count | i64 seq | i64 tUs | data
// Inside `data`, every frame is: type byte, int32 length (counting itself), body. Startup
// packets have no type byte on the wire and are stored with type 0x00, so one parser reads both.

import type { Direction } from '../../shared/types.js';
import { readInt64, writeInt64 } from './chain.js';
import type { FrameChunk, StoredFrame } from './types.js';

const CHUNK_FORMAT = 1;

export const CHUNK_HEADER_BYTES = 22;

export interface ChunkHeader {
  seq: number;
  count: number;
  dir: Direction;
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
  const body =
    scratch !== undefined && scratch.length >= size ? scratch.subarray(0, size) : Buffer.allocUnsafe(size);
  body.writeUInt8(CHUNK_FORMAT, 0);
  body.writeUInt8(chunk.dir === 'client' ? 0 : 1, 1);
  body.writeUInt32BE(chunk.count, 2);
  writeInt64(body, chunk.seq, 6);
  writeInt64(body, chunk.tUs, 14);
  chunk.data.copy(body, CHUNK_HEADER_BYTES);
  return body;
}

/** Reads the header; throws on an unknown format (a record written by a newer Bastion, or damage). */
export function decodeChunkHeader(body: Buffer): ChunkHeader {
  if (body.length < CHUNK_HEADER_BYTES || body[0] !== CHUNK_FORMAT || body[1] > 1) {
    throw new RangeError('not a frame chunk record body');
  }
  return {
    dir: body[1] === 0 ? 'client' : 'server',
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
  let o = CHUNK_HEADER_BYTES;
  for (let i = 0; i < count && out.length < limit; i++) {
    if (o + 5 > body.length) throw new RangeError(`stored chunk at seq ${seq} is truncated`);
    const type = body[o];
    const len = body.readInt32BE(o + 1);
    const end = o + 1 + len;
    if (len < 4 || end > body.length) throw new RangeError(`stored chunk at seq ${seq} is malformed`);
    if (seq + i >= fromSeq) out.push({ seq: seq + i, tUs, dir, type, body: body.subarray(o + 5, end) });
    o = end;
  }
}
