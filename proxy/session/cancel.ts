// Cancel requests: clients get the gateway's own (pid, key) in BackendKeyData; a CancelRequest
// carrying them is forwarded with the upstream's (pid, key) over a fresh upstream connection.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-CANCELING-REQUESTS

import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { UpstreamConfig } from '../config/types.js';
import * as msg from '../wire/messages.js';
import { openTransport } from './upstream.js';

interface Target {
  key: Buffer;
  upstream: UpstreamConfig;
  upstreamPid: number;
  upstreamKey: Buffer;
  /** Lets the session handle a cancel itself (a held statement); true = handled, do not forward. */
  onCancel?: () => boolean;
}

export class CancelRegistry {
  private readonly byPid = new Map<number, Target>();

  /** Issues client-facing key data for a session: 4-byte keys for protocol 3.0, 32 for 3.2. */
  issue(
    upstream: UpstreamConfig,
    upstreamPid: number,
    upstreamKey: Buffer,
    keyLength: number,
    onCancel?: () => boolean,
  ): { pid: number; key: Buffer } {
    let pid: number;
    do pid = randomInt(1, 2 ** 31 - 1);
    while (this.byPid.has(pid));
    const key = randomBytes(keyLength);
    this.byPid.set(pid, { key, upstream, upstreamPid, upstreamKey, onCancel });
    return { pid, key };
  }

  release(pid: number): void {
    this.byPid.delete(pid);
  }

  /** Forwards a cancel if the key matches a live session. Resolves to whether it was forwarded. */
  async cancel(pid: number, key: Buffer): Promise<boolean> {
    const t = this.byPid.get(pid);
    if (!t || t.key.length !== key.length || !timingSafeEqual(t.key, key)) return false;
    if (t.onCancel?.()) return true;
    const socket = await openTransport(t.upstream, Date.now() + 10_000);
    await new Promise<void>((resolve) => {
      socket.end(msg.cancelRequest(t.upstreamPid, t.upstreamKey), () => resolve());
      socket.on('error', () => resolve());
    });
    socket.destroy();
    return true;
  }
}
