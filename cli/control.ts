// A local control channel for the `bastion` CLI to reach a running `serve` (e.g. `bastion
// approvals`): newline-delimited JSON over a Unix socket next to the store, mode 0600, so only the
// user running the gateway (and root) can use it: that file mode is its only authentication, so
// it offers the API to no one the gateway's own config file would not already be open to. It works
// with --no-ui. Calls and replies are those of the other hosts (shared/rpc.ts), answered by the
// one API dispatcher (proxy/api/dispatcher.ts).

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type Dispatch, dispatchMessage } from '../proxy/api/dispatcher.js';
import { ApiError, type ApiMethod, type RpcReply, unwrapOutcome } from '../shared/rpc.js';

/** The longest call line read; a client that sends more is cut off. */
const MAX_LINE = 1024 * 1024;

/** The socket path for a store: beside it, named after it. */
export function controlSocketPath(storePath: string): string {
  return path.join(path.dirname(storePath), `.${path.basename(storePath)}.control.sock`);
}

export async function startControlServer(
  socketPath: string,
  dispatch: Dispatch,
): Promise<{ close(): Promise<void> }> {
  // A stale socket from a crashed run would make listen() fail; one that answers is a live gateway.
  if (fs.existsSync(socketPath)) {
    const alive = await new Promise<boolean>((resolve) => {
      const c = net.connect(socketPath, () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (alive) throw new Error(`another bastion serve is already using this store (${socketPath})`);
    fs.rmSync(socketPath, { force: true });
  }
  const server = net.createServer((socket) => {
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('error', () => {});
    socket.on('data', (d: string) => {
      buf += d;
      if (buf.length > MAX_LINE) {
        socket.destroy();
        return;
      }
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        void dispatchMessage(dispatch, line).then((reply) => {
          if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`);
        });
      }
    });
  });
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(old);
  }
  fs.chmodSync(socketPath, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        fs.rmSync(socketPath, { force: true });
      }),
  };
}

/** One call to a running gateway: its result, or an ApiError with the code the gateway gave. */
export function controlCall(
  socketPath: string,
  method: ApiMethod,
  params: unknown[],
  timeoutMs = 10_000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new ApiError('the gateway did not answer', 'timeout'));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(`${JSON.stringify({ id: 1, method, params })}\n`));
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      c.destroy();
      try {
        resolve(unwrapOutcome(JSON.parse(buf.slice(0, nl)) as RpcReply));
      } catch (e) {
        reject(e);
      }
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
          ? new ApiError(`no running bastion serve for this store (${socketPath})`, 'unavailable')
          : e,
      );
    });
  });
}
