// The recording journal: what makes an acknowledgement durable without waiting for SQLite. The
// event loop appends each batch of entries it hands to the writer thread to the journal with one
// write() (in the page cache, it survives the gateway being killed) before any client learns of a
// statement in it; the writer thread applies batches to the store at its own pace, recording how
// far it got in the same transaction. At start, whatever the store has not applied is replayed.
// Positions only grow (a new run continues from the store's applied position), so a batch is
// never applied twice.
//
// The journal is two files (segments), `<store>.journal` and `<store>.journal.1`. Appends go to
// one; once it passes ROTATE_BYTES and the other holds nothing the store lacks, appends move to
// the other, and a segment is emptied as soon as everything in it is applied. Under a load that
// never lets the writer thread catch up completely (one file could only be emptied then), the
// journal stays a few tens of MB instead of growing with everything recorded.
//
// Record: magic (u32) | payload length (u32) | end position (f64, of the batch's last entry) | payload
// (BatchSerializer). A torn record at the end (a kill mid-write) is ignored: it was
// never acknowledged.

import fs from 'node:fs';
import { dirname } from 'node:path';
import type { SqliteSessionStore } from './sqlite-store.js';
import type { StoreEntry } from './types.js';

const MAGIC = 0xb4_57_10_4e;
const HEADER = 16;

/** A segment passing this size hands appends to the other one, when that one is free. */
const ROTATE_BYTES = 16 * 1024 * 1024;

/** The journal's segment files, in the order they were first used. */
export function segmentPaths(path: string): [string, string] {
  return [path, `${path}.1`];
}

/** Where a batch's payload is in the journal. */
export interface JournalPlace {
  segment: 0 | 1;
  offset: number;
}

interface Segment {
  readonly path: string;
  readonly fd: number;
  /** Bytes in the file. */
  size: number;
  /** The end position of its last batch (0 when empty). */
  lastEnd: number;
}

export class RecordJournal {
  private readonly segments: [Segment, Segment];
  private active: 0 | 1 = 0;
  private readonly header = Buffer.alloc(HEADER);

  constructor(
    readonly path: string,
    private readonly rotateBytes = ROTATE_BYTES,
  ) {
    fs.mkdirSync(dirname(path), { recursive: true });
    const open = (p: string): Segment => {
      const fd = fs.openSync(p, 'a+', 0o600);
      const size = fs.fstatSync(fd).size;
      // Left by a run whose journal was not replayed (the core replays first): what it holds is
      // unknown, so it is never taken for applied; only closing with everything stored empties it.
      return { path: p, fd, size, lastEnd: size > 0 ? Number.POSITIVE_INFINITY : 0 };
    };
    const [a, b] = segmentPaths(path);
    this.segments = [open(a), open(b)];
  }

  /**
   * Appends one batch whose last entry has position `end`; returns where its payload is (the
   * writer thread reads it back from there). Throws (the files unchanged) when it cannot be
   * written whole, e.g. ENOSPC.
   */
  append(end: number, payload: Buffer): JournalPlace {
    const other = this.segments[1 - this.active];
    if (this.segments[this.active].size >= this.rotateBytes && other.size === 0)
      this.active = this.active === 0 ? 1 : 0;
    const seg = this.segments[this.active];
    const header = this.header;
    header.writeUInt32BE(MAGIC, 0);
    header.writeUInt32BE(payload.length, 4);
    header.writeDoubleBE(end, 8);
    const total = HEADER + payload.length;
    let written = 0;
    try {
      written = fs.writevSync(seg.fd, [header, payload]);
      if (written !== total)
        throw Object.assign(new Error('journal write was cut short (disk full?)'), { code: 'ENOSPC' });
    } catch (e) {
      // Leave no torn record behind: the next append must start on a record boundary.
      if (written > 0) fs.ftruncateSync(seg.fd, seg.size);
      throw new Error(`cannot write the recording journal ${seg.path}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const place: JournalPlace = { segment: this.active, offset: seg.size + HEADER };
    seg.size += total;
    // (Stays unknown in a file left by an earlier run: see the constructor.)
    seg.lastEnd = Math.max(seg.lastEnd, end);
    return place;
  }

  /**
   * The store has applied every position up to `appliedEnd`: empties the segment that holds
   * nothing else, except the one taking appends while it is smaller than `keepBytes` (emptying
   * a file costs a system call or two; a small one can wait for the next time).
   */
  applied(appliedEnd: number, keepBytes: number): void {
    for (const i of [0, 1] as const) {
      const seg = this.segments[i];
      if (seg.size === 0 || seg.lastEnd > appliedEnd) continue;
      if (i === this.active && seg.size < keepBytes) continue;
      this.empty(seg);
    }
  }

  /** Empties both files (everything in them is applied to the store). */
  truncate(): void {
    for (const seg of this.segments) this.empty(seg);
    this.active = 0;
  }

  private empty(seg: Segment): void {
    fs.ftruncateSync(seg.fd, 0);
    seg.size = 0;
    seg.lastEnd = 0;
  }

  close(): void {
    for (const seg of this.segments) fs.closeSync(seg.fd);
  }
}

/**
 * The writer thread's view of the journal: it reads each batch back from the file (the page
 * cache) into memory it reuses, rather than being handed a buffer per batch that only its
 * garbage collector would free.
 */
export class JournalReader {
  private readonly fds: [number | null, number | null] = [null, null];
  private readonly memory: ReusedMemory;
  private readonly paths: [string, string];

  /** `groupBytes`: the most the writer thread reads at once (a single larger batch is read too). */
  constructor(
    readonly path: string,
    groupBytes: number,
  ) {
    this.memory = new ReusedMemory(groupBytes);
    this.paths = segmentPaths(path);
  }

  /** Reads the given payloads back to back; the result is valid until the next call. */
  read(batches: readonly (JournalPlace & { length: number })[]): Buffer {
    let total = 0;
    for (const b of batches) total += b.length;
    const out = this.memory.take(total);
    let at = 0;
    for (const b of batches) {
      this.fds[b.segment] ??= fs.openSync(this.paths[b.segment], 'r');
      const fd = this.fds[b.segment] as number;
      let done = 0;
      while (done < b.length) {
        const n = fs.readSync(fd, out, at + done, b.length - done, b.offset + done);
        if (n === 0)
          throw new Error(
            `recording journal ${this.paths[b.segment]}: a batch at byte ${b.offset} is missing`,
          );
        done += n;
      }
      at += b.length;
    }
    return out.subarray(0, total);
  }

  close(): void {
    for (const i of [0, 1] as const) {
      const fd = this.fds[i];
      if (fd !== null) fs.closeSync(fd);
      this.fds[i] = null;
    }
  }
}

/** Reused memory above this is not kept between calls (a huge captured message). */
const KEEP_SCRATCH_BYTES = 4 * 1024 * 1024;

/** Memory reused from call to call, grown to what is asked; at least `minBytes`, at most KEEP_SCRATCH_BYTES kept. */
class ReusedMemory {
  private buf: Buffer | null = null;

  constructor(private readonly minBytes: number) {}

  /** At least `size` bytes, valid until the next call. */
  take(size: number): Buffer {
    let b = this.buf;
    if (b === null || b.length < size) {
      b = Buffer.allocUnsafeSlow(Math.max(size, this.minBytes));
      this.buf = b.length <= KEEP_SCRATCH_BYTES ? b : null;
    }
    return b;
  }
}

/**
 * One batch as bytes, for the journal and the writer thread alike: a JSON header of the entries
 * (frames without their bytes), then the frames' bytes back to back. Reading it back takes the
 * bytes as views of the one buffer. The memory is reused from batch to batch: a batch only lives
 * until it is in the journal (the writer thread reads it back from there), so recording allocates
 * nothing per batch and a large result leaves no trail of buffers for the garbage collector.
 */
export class BatchSerializer {
  private readonly memory = new ReusedMemory(64 * 1024);

  /** The batch as a view of the scratch memory, valid until the next call. */
  serialize(entries: readonly StoreEntry[]): Buffer {
    let dataBytes = 0;
    for (const e of entries) if (e.kind === 'frames') dataBytes += e.data.length;
    // Frames stand in the header with their length (a replacer would come too late: JSON.stringify
    // calls Buffer#toJSON, an array of every byte, before it).
    const meta = JSON.stringify(
      entries.map((e) => (e.kind === 'frames' ? { ...e, data: e.data.length } : e)),
    );
    const metaLength = Buffer.byteLength(meta, 'utf8');
    const total = 4 + metaLength + dataBytes;
    const out = this.memory.take(total);
    out.writeUInt32BE(metaLength, 0);
    out.write(meta, 4, 'utf8');
    let at = 4 + metaLength;
    for (const e of entries) {
      if (e.kind !== 'frames') continue;
      e.data.copy(out, at);
      at += e.data.length;
    }
    return out.subarray(0, total);
  }
}

export function deserializeEntries(payload: Buffer): StoreEntry[] {
  const metaLength = payload.readUInt32BE(0);
  const entries = JSON.parse(payload.toString('utf8', 4, 4 + metaLength)) as StoreEntry[];
  let at = 4 + metaLength;
  for (const e of entries) {
    if (e.kind !== 'frames') continue;
    const length = e.data as unknown as number;
    e.data = payload.subarray(at, at + length);
    at += length;
  }
  if (at !== payload.length) throw new Error('recording journal: a batch does not add up');
  return entries;
}

/**
 * Applies to `store` every batch of the journal at `path` (both segments) it has not applied yet,
 * in position order, then empties the journal. Returns how many entries were replayed. Run before
 * anything else writes the store.
 */
export function replayJournal(store: SqliteSessionStore, path: string): number {
  const batches: { end: number; payload: Buffer }[] = [];
  const files = segmentPaths(path).filter((p) => fs.existsSync(p));
  for (const file of files) {
    const data = fs.readFileSync(file);
    for (let at = 0; at + HEADER <= data.length; ) {
      if (data.readUInt32BE(at) !== MAGIC)
        throw new Error(`recording journal ${file}: bad record at byte ${at}`);
      const length = data.readUInt32BE(at + 4);
      const end = data.readDoubleBE(at + 8);
      if (at + HEADER + length > data.length) break; // torn by a kill: never acknowledged
      batches.push({ end, payload: data.subarray(at + HEADER, at + HEADER + length) });
      at += HEADER + length;
    }
  }
  // Each segment is in position order; which of the two is older depends on how often they took turns.
  batches.sort((x, y) => x.end - y.end);
  let applied = store.journalApplied();
  let replayed = 0;
  for (const { end, payload } of batches) {
    if (end <= applied) continue;
    const entries = deserializeEntries(payload);
    store.append(entries, end);
    applied = end;
    replayed += entries.length;
  }
  for (const file of files) fs.truncateSync(file, 0);
  return replayed;
}
