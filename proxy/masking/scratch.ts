// One reusable buffer that field rewriters write their output into, so that masking a field
// allocates nothing: a rewriter writes n bytes at `scratch.pos` and returns n; the row rewriter
// (maskDataRow) keeps them by advancing `pos`, copies them into the new row, and resets `pos` for
// the next row. Single-threaded and synchronous: nothing else runs between those steps.

export const scratch = {
  buf: Buffer.allocUnsafe(64 * 1024),
  pos: 0,
};

/** Room for `n` more bytes at scratch.pos (grows, keeping what is there). */
export function reserve(n: number): Buffer {
  const need = scratch.pos + n;
  if (need > scratch.buf.length) {
    const next = Buffer.allocUnsafe(Math.max(need, scratch.buf.length * 2));
    scratch.buf.copy(next, 0, 0, scratch.pos);
    scratch.buf = next;
  }
  return scratch.buf;
}

/** A copy of `n` bytes written at scratch.pos (for callers that need a Buffer of their own). */
export function takeScratch(n: number): Buffer {
  return Buffer.from(scratch.buf.subarray(scratch.pos, scratch.pos + n));
}

/**
 * Rewritten rows are cut back to back from one arena after another, not allocated one by one:
 * the rows of a socket read then lie contiguous in memory, so the session relays and records
 * them as one range (see SegmentList), and a result costs one allocation per ARENA_SIZE bytes.
 * An arena is freed when no row cut from it is referenced any more; it is never written twice.
 */
const ARENA_SIZE = 256 * 1024;
let arena = Buffer.allocUnsafeSlow(ARENA_SIZE);
let arenaPos = 0;

/** A buffer of `n` bytes for a rewritten row (uninitialised: the caller fills every byte). */
export function rowBuffer(n: number): Buffer {
  if (n > ARENA_SIZE / 4) return Buffer.allocUnsafeSlow(n);
  if (arenaPos + n > ARENA_SIZE) {
    arena = Buffer.allocUnsafeSlow(ARENA_SIZE);
    arenaPos = 0;
  }
  const b = arena.subarray(arenaPos, arenaPos + n);
  arenaPos += n;
  return b;
}
