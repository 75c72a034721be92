// An ordered list of byte ranges to send or store. Ranges that follow each other in the same
// memory are merged (the same buffer, or views of one ArrayBuffer such as rows the masker wrote
// into its arena), so a run of messages stays one zero-copy slice.

import type { Writable } from 'node:stream';

export class SegmentList {
  private readonly done: Buffer[] = [];
  private buf: Buffer | null = null;
  private start = 0;
  private end = 0;
  /** Total bytes held. */
  bytes = 0;

  /** Adds buf[start, end) without copying. */
  pass(buf: Buffer, start: number, end: number): void {
    this.bytes += end - start;
    const cur = this.buf;
    if (cur !== null) {
      if (buf === cur && start === this.end) {
        this.end = end;
        return;
      }
      // Another view right after the current range in the same memory (rows the masker cut
      // from one arena, each its own Buffer): widen the range, possibly past the current view's
      // own bounds; seal() makes one view over the memory for the whole run.
      if (buf.buffer === cur.buffer && buf.byteOffset + start === cur.byteOffset + this.end) {
        this.end = buf.byteOffset + end - cur.byteOffset;
        return;
      }
    }
    this.seal();
    this.buf = buf;
    this.start = start;
    this.end = end;
  }

  /** Adds a whole buffer (a message the gateway made or rewrote). */
  add(b: Buffer): void {
    this.seal();
    this.done.push(b);
    this.bytes += b.length;
  }

  private seal(): void {
    const b = this.buf;
    if (b !== null) {
      this.done.push(
        this.end <= b.length
          ? b.subarray(this.start, this.end)
          : Buffer.from(b.buffer, b.byteOffset + this.start, this.end - this.start),
      );
      this.buf = null;
    }
  }

  get empty(): boolean {
    return this.bytes === 0;
  }

  /** Returns the segments and resets the list. */
  take(): Buffer[] {
    this.seal();
    const out = this.done.splice(0);
    this.bytes = 0;
    return out;
  }

  /** Returns the bytes as one buffer (copying only if there are several segments) and resets. */
  takeJoined(): Buffer {
    const segs = this.take();
    return segs.length === 1 ? segs[0] : Buffer.concat(segs);
  }

  /** Writes everything to `out` in one batch; returns false when `out` asks to wait for 'drain'. */
  writeTo(out: Writable): boolean {
    const segs = this.take();
    if (segs.length === 0) return true;
    if (segs.length === 1) return out.write(segs[0]);
    out.cork();
    let ok = true;
    for (const s of segs) ok = out.write(s);
    out.uncork();
    return ok;
  }
}
