// SHA-256 over the bytes of a result past the capture limit (StatementTracker): one message at a
// time they are ranges that mostly follow each other in the same memory (a socket read, or the
// masker's arena), so they are hashed a run at a time: one update per run instead of one per row
// (two million rows: two million native calls otherwise).

import { createHash, type Hash } from 'node:crypto';

export class RunDigest {
  private readonly hash: Hash = createHash('sha256');
  /** The run not hashed yet: memory[start, end). */
  private memory: ArrayBufferLike | null = null;
  private start = 0;
  private end = 0;

  /** Adds buf[start, end). The bytes must not change until the next add or hex (they never do: reads and arenas are not reused). */
  add(buf: Buffer, start: number, end: number): void {
    const absStart = buf.byteOffset + start;
    if (buf.buffer === this.memory && absStart === this.end) {
      this.end = buf.byteOffset + end;
      return;
    }
    this.flush();
    this.memory = buf.buffer;
    this.start = absStart;
    this.end = buf.byteOffset + end;
  }

  private flush(): void {
    if (this.memory === null) return;
    this.hash.update(new Uint8Array(this.memory, this.start, this.end - this.start));
    this.memory = null;
  }

  /** The digest of everything added, in order. */
  hex(): string {
    this.flush();
    return this.hash.digest('hex');
  }
}
