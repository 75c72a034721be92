// A local control channel for the `bastion` CLI to reach a running `serve` (e.g. `bastion
// approvals`): newline-delimited JSON over a Unix socket next to the store, mode 0600, so only the
// user running the gateway (and root) can use it. It works with --no-ui.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export type ControlHandler = (method: string, params: unknown[]) => Promise<unknown>;

/** The socket path for a store: beside it, named after it. */
export function controlSocketPath(storePath: string): string {
  return path.join(path.dirname(storePath), `.${path.basename(storePath)}.control.sock`);
}

export async function startControlServer(
  socketPath: string,
  handle: ControlHandler,
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
      if (buf.length > 1024 * 1024) socket.destroy();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        let req: { id?: unknown; method?: unknown; params?: unknown };
        try {
          req = JSON.parse(line);
        } catch {
          socket.write(`${JSON.stringify({ id: null, error: 'invalid JSON' })}\n`);
          continue;
        }
        const params = Array.isArray(req.params) ? req.params : [];
        handle(String(req.method), params).then(
          (result) => socket.write(`${JSON.stringify({ id: req.id, result })}\n`),
          (e) => socket.write(`${JSON.stringify({ id: req.id, error: (e as Error).message })}\n`),
        );
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

/** One call to a running gateway. */
export function controlCall(
  socketPath: string,
  method: string,
  params: unknown[],
  timeoutMs = 10_000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error('the gateway did not answer'));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(`${JSON.stringify({ id: 1, method, params })}\n`));
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      c.destroy();
      const res = JSON.parse(buf.slice(0, nl)) as { result?: unknown; error?: string };
      if (res.error !== undefined) reject(new Error(res.error));
      else resolve(res.result);
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
          ? new Error(`no running bastion serve for this store (${socketPath})`)
          : e,
      );
    });
  });
}
