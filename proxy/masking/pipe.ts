// A MaskingStream with a protocol model of its own, fed frame by frame: for masking outside a
// live session (the policy editor's preview, benchmarks, tests). A session instead shares its
// one model between masking, statement tracking and the guardrails.

import { ProtocolState } from '../session/protocol-state.js';
import type { MaskCatalog } from './catalog.js';
import type { CompiledMasking } from './compile.js';
import type { Counts } from './rewrite.js';
import { MaskingStream } from './stream.js';

export class MaskingPipe {
  readonly protocol = new ProtocolState();
  readonly stream: MaskingStream;
  private seq = 0;

  constructor(opts: { masking: CompiledMasking; catalog: MaskCatalog | null }) {
    this.stream = new MaskingStream({ ...opts, protocol: this.protocol });
  }

  get active(): boolean {
    return this.stream.active;
  }

  get session(): MaskingStream['session'] {
    return this.stream.session;
  }

  /** A frame sent upstream; returns bytes to send before it (an injected Describe), or null. */
  client(type: number, buf: Buffer, start: number, end: number): Buffer | null {
    const op = this.protocol.client(type, buf, start, end, ++this.seq);
    return this.stream.client(op, buf, start, end);
  }

  /** A backend frame: null = as is, else the bytes to send instead (empty = nothing). */
  server(type: number, buf: Buffer, start: number, end: number, counts: Counts | null): Buffer | null {
    const reply = this.protocol.server(type, buf, start, end);
    return this.stream.server(reply, type, buf, start, end, counts);
  }
}
