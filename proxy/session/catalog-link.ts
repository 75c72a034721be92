// The gateway's own upstream connection for catalog look-ups (masking needs table OIDs, column
// numbers and view definitions). One lazily opened connection per upstream, one query at a time,
// reopened after a failure. Never used for client traffic.

import type net from 'node:net';
import type { UpstreamConfig } from '../config/types.js';
import { Backend } from '../wire/codes.js';
import { dataRowText, noticeFields } from '../wire/fields.js';
import * as msg from '../wire/messages.js';
import { SocketReader } from '../wire/socket-reader.js';
import { connectUpstream } from './upstream.js';

const TIMEOUT_MS = 15_000;
const MAX_MESSAGE = 64 * 1024 * 1024;

export class CatalogLink {
  private link: { socket: net.Socket; reader: SocketReader } | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly upstream: UpstreamConfig) {}

  /** Runs one simple-protocol query and returns its rows as text. */
  run = (sql: string): Promise<(string | null)[][]> => {
    const next = this.chain.then(() => this.runNow(sql));
    this.chain = next.catch(() => {});
    return next;
  };

  private async open(): Promise<{ socket: net.Socket; reader: SocketReader }> {
    if (this.link && !this.link.socket.destroyed) return this.link;
    const l = await connectUpstream(
      this.upstream,
      { application_name: 'bastion catalog' },
      {
        timeoutMs: TIMEOUT_MS,
        maxMessageSize: MAX_MESSAGE,
      },
    );
    if (l.leftover.length > 0) l.socket.unshift(l.leftover);
    l.socket.on('error', () => {});
    this.link = { socket: l.socket, reader: new SocketReader(l.socket) };
    return this.link;
  }

  private async runNow(sql: string): Promise<(string | null)[][]> {
    const { socket, reader } = await this.open();
    const deadline = Date.now() + TIMEOUT_MS;
    socket.write(msg.query(sql));
    const rows: (string | null)[][] = [];
    let error: string | null = null;
    try {
      for (;;) {
        const m = await reader.readMessage(MAX_MESSAGE, deadline);
        if (m.type === Backend.DataRow) rows.push(dataRowText(m.body));
        else if (m.type === Backend.ErrorResponse) {
          const f = noticeFields(m.raw, 0, m.raw.length);
          error = `${f.get('C') ?? ''} ${f.get('M') ?? 'error'}`;
        } else if (m.type === Backend.ReadyForQuery) break;
      }
    } catch (e) {
      this.close();
      throw e;
    }
    if (error !== null) throw new Error(`catalog query failed: ${error}`);
    return rows;
  }

  close(): void {
    if (this.link) {
      this.link.reader.detach();
      this.link.socket.end(msg.terminate());
      this.link.socket.destroy();
    }
    this.link = null;
  }
}
