// The recording journal: what makes an acknowledgement durable without waiting for SQLite. The
// event loop appends each batch of entries it hands to the writer thread to this file with one
// write() (in the page cache, it survives the gateway being killed) before any client learns of a
// statement in it; the writer thread applies batches to the store at its own pace, recording how
// far it got in the same transaction. At start, whatever the store has not applied is replayed.
// Positions only grow (a new run continues from the store's applied position), so a batch is
// never applied twice and the file can be emptied whenever everything in it is applied.
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

export class RecordJournal {
  private readonly fd: number;
  private readonly header = Buffer.alloc(HEADER);
  /** Bytes in the file. */
  size: number;

  constructor(readonly path: string) {
    fs.mkdirSync(dirname(path), { recursive: true });
    this.fd = fs.openSync(path, 'a+', 0o600);
    this.size = fs.fstatSync(this.fd).size;
  }

  /**
   * Appends one batch whose last entry has position `end`; returns the payload's offset in the
   * file (where the writer thread reads it back). Throws (the file unchanged) when it cannot be
   * written whole, e.g. ENOSPC.
   */
  append(end: number, payload: Buffer): number {
    const header = this.header;
    header.writeUInt32BE(MAGIC, 0);
    header.writeUInt32BE(payload.length, 4);
    header.writeDoubleBE(end, 8);
    const total = HEADER + payload.length;
    let written = 0;
    try {
      written = fs.writevSync(this.fd, [header, payload]);
      if (written !== total)
        throw Object.assign(new Error('journal write was cut short (disk full?)'), { code: 'ENOSPC' });
    } catch (e) {
      // Leave no torn record behind: the next append must start on a record boundary.
      if (written > 0) fs.ftruncateSync(this.fd, this.size);
      throw new Error(`cannot write the recording journal ${this.path}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const offset = this.size + HEADER;
    this.size += total;
    return offset;
  }

  /** Empties the file (everything in it is applied to the store). */
  truncate(): void {
    fs.ftruncateSync(this.fd, 0);
    this.size = 0;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/**
 * The writer thread's view of the journal: it reads each batch back from the file (the page
 * cache) into memory it reuses, rather than being handed a buffer per batch that only its
 * garbage collector would free.
 */
export class JournalReader {
  private fd: number | null = null;
  private readonly memory: ReusedMemory;

  /** `groupBytes`: the most the writer thread reads at once (a single larger batch is read too). */
  constructor(
    readonly path: string,
    groupBytes: number,
  ) {
    this.memory = new ReusedMemory(groupBytes);
  }

  /** Reads the given payloads back to back; the result is valid until the next call. */
  read(batches: readonly { offset: number; length: number }[]): Buffer {
    let total = 0;
    for (const b of batches) total += b.length;
    const out = this.memory.take(total);
    this.fd ??= fs.openSync(this.path, 'r');
    let at = 0;
    for (const b of batches) {
      let done = 0;
      while (done < b.length) {
        const n = fs.readSync(this.fd, out, at + done, b.length - done, b.offset + done);
        if (n === 0)
          throw new Error(`recording journal ${this.path}: a batch at byte ${b.offset} is missing`);
        done += n;
      }
      at += b.length;
    }
    return out.subarray(0, total);
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
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
 * Applies to `store` every batch of the journal at `path` it has not applied yet, then empties
 * the journal. Returns how many entries were replayed. Run before anything else writes the store.
 */
export function replayJournal(store: SqliteSessionStore, path: string): number {
  if (!fs.existsSync(path)) return 0;
  const data = fs.readFileSync(path);
  let applied = store.journalApplied();
  let replayed = 0;
  for (let at = 0; at + HEADER <= data.length; ) {
    if (data.readUInt32BE(at) !== MAGIC)
      throw new Error(`recording journal ${path}: bad record at byte ${at}`);
    const length = data.readUInt32BE(at + 4);
    const end = data.readDoubleBE(at + 8);
    if (at + HEADER + length > data.length) break; // torn by a kill: never acknowledged
    if (end > applied) {
      const entries = deserializeEntries(data.subarray(at + HEADER, at + HEADER + length));
      store.append(entries, end);
      applied = end;
      replayed += entries.length;
    }
    at += HEADER + length;
  }
  fs.truncateSync(path, 0);
  return replayed;
}
