// Awaitable reads of whole packets from a socket, for the short conversational phases
// (startup, TLS negotiation, authentication). Once a session is ready, the streaming
// MessageFramer takes over and whatever this reader still holds is handed to it.

import type { Duplex } from 'node:stream';
import { GatewayError, SqlState } from '../errors.js';

export class SocketClosedError extends Error {
  constructor() {
    super('connection closed');
  }
}

export class SocketReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private waiter: (() => void) | null = null;
  private ended = false;
  private failure: Error | null = null;
  private readonly onData = (d: Buffer) => {
    this.chunks.push(d);
    this.size += d.length;
    this.wake();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.wake();
  };
  private readonly onError = (e: Error) => {
    this.failure = e;
    this.wake();
  };

  constructor(private readonly socket: Duplex) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  get buffered(): number {
    return this.size;
  }

  private async fill(n: number, deadline: number): Promise<void> {
    while (this.size < n) {
      if (this.failure) throw this.failure;
      if (this.ended) throw new SocketClosedError();
      const wait = deadline - Date.now();
      if (wait <= 0) throw new GatewayError(SqlState.ProtocolViolation, 'timeout waiting for the client');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    return out;
  }

  async readBytes(n: number, deadline: number): Promise<Buffer> {
    await this.fill(n, deadline);
    return this.take(n);
  }

  /** An untyped startup packet: int32 length + body. Returns the body. */
  async readStartupPacket(maxLength: number, deadline: number): Promise<Buffer> {
    await this.fill(4, deadline);
    const len = this.peekInt32(0);
    if (len < 8 || len > maxLength) {
      throw new GatewayError(SqlState.ProtocolViolation, `invalid length of startup packet: ${len}`);
    }
    return (await this.readBytes(len, deadline)).subarray(4);
  }

  /** A typed message: returns type and body. */
  async readMessage(
    maxLength: number,
    deadline: number,
  ): Promise<{ type: number; body: Buffer; raw: Buffer }> {
    await this.fill(5, deadline);
    const len = this.peekInt32(1);
    if (len < 4 || len > maxLength) {
      throw new GatewayError(SqlState.ProtocolViolation, `invalid message length ${len}`);
    }
    const raw = await this.readBytes(len + 1, deadline);
    return { type: raw[0], body: raw.subarray(5), raw };
  }

  private peekInt32(offset: number): number {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = [all];
    return all.readInt32BE(offset);
  }

  /** Stops listening and returns what was received but not read. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    const rest = this.chunks.length === 0 ? Buffer.alloc(0) : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.size = 0;
    return rest;
  }
}
