// The headless UI host without a browser: it listens on loopback only (not reachable on the
// machine's other addresses), and its WebSocket API refuses a missing or wrong token and foreign
// origins before any call reaches the service. (The browser-level checks: test/e2e/ui.test.ts.)

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { startUiHost, type UiHost, type UiService } from '../../cli/ui-host.js';

let host: UiHost;
let dir: string;
const calls: string[] = [];

/** A service that records which calls reached it. */
const service = new Proxy(
  { subscribe: () => () => {} },
  {
    get(target, name) {
      if (name === 'subscribe') return target.subscribe;
      if (name === 'then') return undefined;
      return async () => {
        calls.push(String(name));
        return [];
      };
    },
  },
) as unknown as UiService;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-rel-ui-'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>t</title>');
  host = await startUiHost(service, { port: 0, staticDir: dir });
});

after(async () => {
  await host?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function tryConnect(address: string, port: number): Promise<'connected' | string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: address, port, timeout: 2000 });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('timeout', () => {
      s.destroy();
      resolve('timeout');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

function ws(query: string, origin: string | undefined): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const c = new WebSocket(`ws://127.0.0.1:${host.port}/api${query}`, origin ? { origin } : {});
    c.once('open', () => {
      c.close();
      resolve('open');
    });
    c.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      c.terminate();
    });
    c.once('error', () => resolve(0));
  });
}

test('binds 127.0.0.1 only: the port is not reachable on any other address of this machine', async (t) => {
  assert.equal(await tryConnect('127.0.0.1', host.port), 'connected');
  const others = Object.values(os.networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal && a.family === 'IPv4')
    .map((a) => a!.address);
  t.diagnostic(`other addresses: ${others.join(', ') || '(none)'}`);
  for (const a of others) assert.equal(await tryConnect(a, host.port), 'ECONNREFUSED', a);
  // IPv6 loopback is another address too; the host listens on IPv4 loopback only.
  const v6 = await tryConnect('::1', host.port);
  assert.notEqual(v6, 'connected', '::1');
});

test('the WebSocket API: no token, a wrong or truncated token, a foreign or missing origin are refused before any call', async () => {
  const self = `http://127.0.0.1:${host.port}`;
  const refusals: [string, string | undefined, number][] = [
    ['', self, 401],
    ['?token=', self, 401],
    ['?token=wrong', self, 401],
    [`?token=${host.token.slice(0, -1)}`, self, 401],
    [`?token=${host.token}x`, self, 401],
    [`?token=${host.token}`, 'http://evil.example', 403],
    [`?token=${host.token}`, `http://127.0.0.1:${host.port + 1}`, 403],
    [`?token=${host.token}`, 'null', 403],
    [`?token=${host.token}`, undefined, 403],
  ];
  for (const [query, origin, status] of refusals) {
    assert.equal(await ws(query, origin), status, `${query.replace(host.token, 'TOKEN')} from ${origin}`);
  }
  assert.deepEqual(calls, [], 'no call reached the service');
  assert.equal(await ws(`?token=${host.token}`, self), 'open');
});
