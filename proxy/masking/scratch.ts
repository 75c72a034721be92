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
