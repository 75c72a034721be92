// The floor of a JavaScript data path: a Node.js process that relays bytes between client and
// PostgreSQL and does nothing else (no parsing, policy, masking or recording; `socket.pipe`).
// The pgbench scenario runs it beside pgbouncer and Bastion so the report shows how much of the
// distance to pgbouncer the runtime itself accounts for.
// Run: node dist/bench/node-relay.js UPSTREAM_PORT  (prints "listening PORT", relays until killed)

import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { isMain } from './report.js';

export interface NodeRelay {
  port: number;
  stop(): Promise<void>;
}

/** Starts the relay in a process of its own (as Bastion runs), in front of 127.0.0.1:upstreamPort. */
export async function startNodeRelay(upstreamPort: number): Promise<NodeRelay> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), String(upstreamPort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`node relay exited (${code}) before listening`)));
  });
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function relay(upstreamPort: number): void {
  const server = net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: upstreamPort, noDelay: true });
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

if (isMain(import.meta.url)) relay(Number(process.argv[2]));
