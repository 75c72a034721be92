// Frame chunks of a session that are written in one transaction become one record.
//
// The recorder hands over one chunk per socket read (one direction, one timestamp): a pgbench
// transaction is two of them and a statement. Each record costs a digest, a records row and an
// index row, so the recording writer joins a session's chunks whose frames follow each other
// into one format 2 record (frames.ts) and stores that session's statements after it. A
// statement record still comes after the record holding its last frame, and within a session
// records keep the order of the entries otherwise.

import type { FrameChunk, StoreEntry } from './types.js';

/** Chunks are joined while their frames add up to at most this many bytes. */
export const JOIN_BYTES = 128 * 1024;

/** An entry to write, or chunks of one session to write as one record. */
export type WriteItem = StoreEntry | FrameChunk[];

interface OpenRun {
  chunks: FrameChunk[];
  bytes: number;
  statements: StoreEntry[];
}

/**
 * `entries` in write order, with runs of chunks joined. Any entry other than frames and
 * statements (a session's open or close, an approval, a policy change) first ends every open run,
 * so that it keeps its place relative to everything before it.
 */
export function joinFrameChunks(entries: readonly StoreEntry[]): WriteItem[] {
  const out: WriteItem[] = [];
  const open = new Map<string, OpenRun>();
  const end = (sessionId: string, run: OpenRun) => {
    open.delete(sessionId);
    out.push(run.chunks.length === 1 ? run.chunks[0] : run.chunks);
    for (const s of run.statements) out.push(s);
  };
  for (const e of entries) {
    if (e.kind === 'frames') {
      let run = open.get(e.sessionId);
      if (run !== undefined) {
        const last = run.chunks[run.chunks.length - 1];
        if (last.seq + last.count !== e.seq || run.bytes + e.data.length > JOIN_BYTES) {
          end(e.sessionId, run);
          run = undefined;
        }
      }
      if (run === undefined) {
        run = { chunks: [], bytes: 0, statements: [] };
        open.set(e.sessionId, run);
      }
      run.chunks.push(e);
      run.bytes += e.data.length;
    } else if (e.kind === 'statement' && open.has(e.statement.sessionId)) {
      open.get(e.statement.sessionId)!.statements.push(e);
    } else {
      for (const [sessionId, run] of open) end(sessionId, run);
      out.push(e);
    }
  }
  for (const [sessionId, run] of open) end(sessionId, run);
  return out;
}
