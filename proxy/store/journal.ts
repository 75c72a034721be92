// The recording journal: what makes an acknowledgement durable without waiting for SQLite. The
// event loop appends each batch of entries it hands to the writer thread to this file with one
// write() (in the page cache, it survives the gateway being killed) before any client learns of a
// statement in it; the writer thread applies batches to the store at its own pace, recording how
// far it got in the same transaction. At start, whatever the store has not applied is replayed.
// Positions only grow (a new run continues from the store's applied position), so a batch is
// never applied twice and the file can be emptied whenever everything in it is applied.
//
// Record: magic (u32) | payload length (u32) | end position (f64, of the batch's last entry) | payload
// (serializeEntries). A torn record at the end (a kill mid-write) is ignored: it was
// never acknowledged.

import fs from 'node:fs';
import { dirname } from 'node:path';
import type { SqliteSessionStore } from './sqlite-store.js';
import type { StoreEntry } from './types.js';

const MAGIC = 0xb4_57_10_4e;
const HEADER = 16;

export class RecordJournal {
  private readonly fd: number;
  /** Bytes in the file. */
  size: number;

  constructor(readonly path: string) {
    fs.mkdirSync(dirname(path), { recursive: true });
    this.fd = fs.openSync(path, 'a+', 0o600);
    this.size = fs.fstatSync(this.fd).size;
  }

  /**
   * Appends one batch whose last entry has position `end`. Throws (the file unchanged) when it
   * cannot be written whole, e.g. ENOSPC.
   */
  append(end: number, payload: Buffer): void {
    const header = Buffer.allocUnsafe(HEADER);
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
    this.size += total;
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
 * One batch as bytes, for the journal and the writer thread alike: a JSON header of the entries
 * (frames without their bytes), then the frames' bytes back to back. Reading it back takes the
 * bytes as views of the one buffer, so a batch is a single allocation on either side.
 */
export function serializeEntries(entries: readonly StoreEntry[]): Buffer {
  let dataBytes = 0;
  for (const e of entries) if (e.kind === 'frames') dataBytes += e.data.length;
  // Frames stand in the header with their length (a replacer would come too late: JSON.stringify
  // calls Buffer#toJSON, an array of every byte, before it).
  const meta = Buffer.from(
    JSON.stringify(entries.map((e) => (e.kind === 'frames' ? { ...e, data: e.data.length } : e))),
    'utf8',
  );
  const out = Buffer.allocUnsafeSlow(4 + meta.length + dataBytes);
  out.writeUInt32BE(meta.length, 0);
  meta.copy(out, 4);
  let at = 4 + meta.length;
  for (const e of entries) {
    if (e.kind !== 'frames') continue;
    e.data.copy(out, at);
    at += e.data.length;
  }
  return out;
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
