// Records one session: every frame in both directions, grouped per socket read (one chunk, one
// timestamp), plus the session's open/close and its statements. Nothing is written here: entries
// go to the shared StoreWriter. Until the session is opened (identity known) entries are held.

import { performance } from 'node:perf_hooks';
import type { Direction, SessionInfo, StatementRecord } from '../../shared/types.js';
import { SegmentList } from '../wire/segments.js';
import type { StoreEntry } from './types.js';
import type { RecordWriter } from './writer.js';

export class FrameRecorder {
  readonly sessionId: string;
  /** Epoch microseconds of the session's start. */
  readonly startedAt: number;
  private readonly t0 = performance.now();
  private seq = 1;
  private held: StoreEntry[] | null = [];
  private closed = false;
  private readonly chunk = new SegmentList();
  private chunkDir: Direction = 'client';
  private chunkSeq = 0;
  private chunkCount = 0;
  private chunkT = 0;
  private readonly statements: StatementRecord[] = [];

  constructor(
    private readonly writer: RecordWriter,
    sessionId: string,
  ) {
    this.sessionId = sessionId;
    this.startedAt = Date.now() * 1000;
  }

  /** Microseconds since the session started. */
  now(): number {
    return Math.round((performance.now() - this.t0) * 1000);
  }

  /** Epoch microseconds now. */
  epochNow(): number {
    return this.startedAt + this.now();
  }

  /** The seq the next recorded frame gets. */
  get nextSeq(): number {
    return this.seq;
  }

  get healthy(): boolean {
    return this.writer.healthy;
  }

  private emit(e: StoreEntry): void {
    if (this.held !== null) this.held.push(e);
    else this.writer.enqueue(e);
  }

  /** Binds the session to its identity and releases what was held. */
  open(info: SessionInfo): void {
    if (this.held === null) return;
    const held = this.held;
    this.held = null;
    this.writer.enqueue({ kind: 'session_open', session: info });
    for (const e of held) this.writer.enqueue(e);
  }

  get isOpen(): boolean {
    return this.held === null;
  }

  begin(dir: Direction): void {
    if (this.chunkCount > 0) this.end();
    this.chunkDir = dir;
    this.chunkSeq = this.seq;
    this.chunkT = this.now();
  }

  /** Records buf[start, end), a whole message, as the next frame. Returns its seq. */
  frame(buf: Buffer, start: number, end: number): number {
    this.chunk.pass(buf, start, end);
    this.chunkCount++;
    return this.seq++;
  }

  /** Records a message the gateway made or replaced (e.g. a redacted authentication message). */
  frameBytes(b: Buffer): number {
    this.chunk.add(b);
    this.chunkCount++;
    return this.seq++;
  }

  end(): void {
    if (this.chunkCount === 0) {
      this.emitStatements();
      return;
    }
    this.emit({
      kind: 'frames',
      sessionId: this.sessionId,
      seq: this.chunkSeq,
      count: this.chunkCount,
      dir: this.chunkDir,
      tUs: this.chunkT,
      data: this.chunk.takeJoined(),
    });
    this.chunkCount = 0;
    this.emitStatements();
  }

  private emitStatements(): void {
    for (const s of this.statements.splice(0)) this.emit({ kind: 'statement', statement: s });
  }

  /** Queues a finished statement; it is stored after the chunk being recorded (its last frame may be in it). */
  statement(s: StatementRecord): void {
    this.statements.push(s);
  }

  /** Ends the session record. `fallback` opens it first if auth never completed. */
  close(reason: string, fallback: SessionInfo): void {
    if (this.closed) return;
    this.closed = true;
    this.end();
    if (!this.isOpen) this.open(fallback);
    this.writer.enqueue({
      kind: 'session_close',
      sessionId: this.sessionId,
      endedAt: this.epochNow(),
      endReason: reason,
    });
  }
}
