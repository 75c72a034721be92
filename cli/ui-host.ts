// The headless UI host: the built renderer over HTTP and the API (shared/api.ts) over one
// WebSocket at /api, both on 127.0.0.1 only. A random token, printed in the URL at start, guards
// both: the page is served for ?token=... (which also sets a same-site cookie for its assets) and
// the WebSocket needs ?token=... too and an Origin equal to the host's own (so that no other web
// page the operator visits can drive it, even though it can reach 127.0.0.1).
// Messages (shared/rpc.ts): {id, method, params[]} -> {id, result} | {id, error: {message, code}},
// answered by the one API dispatcher (proxy/api/dispatcher.ts); events in batches {events: [...]},
// one per frame's time (proxy/api/event-batch.ts).

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { type WebSocket, WebSocketServer } from 'ws';
import { createDispatcher, dispatchMessage } from '../proxy/api/dispatcher.js';
import { EventBatcher } from '../proxy/api/event-batch.js';
import type { BastionApi, BastionEventSource } from '../shared/api.js';
import type { RpcEventBatch, RpcReply } from '../shared/rpc.js';

export type UiService = BastionApi & BastionEventSource;

export interface UiHostOptions {
  /** 0 = any free port. */
  port: number;
  /** The built renderer (dist/renderer): index.html and assets/. */
  staticDir: string;
  /** Errors worth telling the operator about (default: nowhere). */
  log?: (message: string) => void;
}

export interface UiHost {
  /** http://127.0.0.1:PORT/?token=... : open it in a browser. */
  url: string;
  token: string;
  port: number;
  close(): Promise<void>;
}

const MAX_MESSAGE = 4 * 1024 * 1024;
/** A client that does not read its events is dropped past this (it reconnects and backfills). */
const MAX_BUFFERED = 64 * 1024 * 1024;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

function sameSecret(given: string | null | undefined, token: string): boolean {
  if (typeof given !== 'string' || given.length === 0) return false;
  // Hash both so the comparison is constant-time whatever the lengths.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

function cookie(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Bastion</title>
<body style="font:15px system-ui;margin:3em;max-width:40em">
<h1>Bastion's UI is not built</h1><p>The gateway is running. To get the UI, run
<code>npm run build:ui</code> in the repository and reload this page.</p></body>`;

export async function startUiHost(service: UiService, opts: UiHostOptions): Promise<UiHost> {
  const token = randomBytes(32).toString('base64url');
  const staticDir = path.resolve(opts.staticDir);
  const log = opts.log ?? (() => {});
  let port = opts.port;
  const origins = () => [`http://127.0.0.1:${port}`, `http://localhost:${port}`];
  const hosts = () => [`127.0.0.1:${port}`, `localhost:${port}`];
  const cookieName = () => `bastion_ui_${port}`; // cookies are per host, not per port

  const security = (): Record<string, string> => ({
    // style-src allows inline styles: the policy editor (Monaco) writes its theme and decorations
    // into <style> elements at run time. Scripts stay 'self' only.
    'Content-Security-Policy':
      "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; " +
      `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}; object-src 'none'; base-uri 'none'; ` +
      "form-action 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer', // the page's URL carries the token
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  });

  const refuse = (res: http.ServerResponse, status: number, text: string) => {
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-store',
      ...security(),
    });
    res.end(`${text}\n`);
  };

  const server = http.createServer((req, res) => {
    // A page on another site may resolve its own name to 127.0.0.1 (DNS rebinding): only our
    // own Host names are served.
    if (!hosts().includes(req.headers.host ?? '')) return refuse(res, 421, 'Bastion: wrong host');
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'Bastion: method not allowed');
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const byQuery = sameSecret(url.searchParams.get('token'), token);
    const byCookie = sameSecret(cookie(req.headers.cookie, cookieName()), token);
    if (!byQuery && !byCookie) {
      return refuse(
        res,
        401,
        'Bastion: open the URL that `bastion serve` printed: it carries the access token.',
      );
    }
    const headers: Record<string, string> = { ...security() };
    if (byQuery) headers['Set-Cookie'] = `${cookieName()}=${token}; HttpOnly; SameSite=Strict; Path=/`;

    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      return refuse(res, 400, 'Bastion: bad path');
    }
    let file = path.resolve(staticDir, `.${path.posix.normalize(rel)}`);
    if (file !== staticDir && !file.startsWith(staticDir + path.sep))
      return refuse(res, 404, 'Bastion: not found');
    let stat = fs.statSync(file, { throwIfNoEntry: false });
    if (!stat?.isFile()) {
      // Client-side routes get the app; missing assets get a 404.
      if (path.extname(rel) !== '') return refuse(res, 404, 'Bastion: not found');
      file = path.join(staticDir, 'index.html');
      stat = fs.statSync(file, { throwIfNoEntry: false });
      if (!stat?.isFile()) {
        res.writeHead(200, {
          ...headers,
          'Content-Type': 'text/html; charset=utf-8',
          'Cache-Control': 'no-store',
        });
        res.end(req.method === 'HEAD' ? undefined : NOT_BUILT);
        return;
      }
    }
    const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    const immutable = rel.startsWith('/assets/');
    res.writeHead(200, {
      ...headers,
      'Content-Type': type,
      'Content-Length': String(stat.size),
      'Cache-Control': immutable ? 'private, max-age=31536000, immutable' : 'no-store',
    });
    if (req.method === 'HEAD') return res.end();
    fs.createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res);
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE });
  const clients = new Set<WebSocket>();

  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const reject = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.destroy();
    };
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    if (url.pathname !== '/api') return reject(404, 'Not Found');
    if (!hosts().includes(req.headers.host ?? '')) return reject(421, 'Misdirected Request');
    if (!sameSecret(url.searchParams.get('token'), token)) return reject(401, 'Unauthorized');
    const origin = req.headers.origin;
    if (origin !== `http://${req.headers.host}` || !origins().includes(origin))
      return reject(403, 'Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws));
  });

  const dispatch = createDispatcher(service, { log });

  const serve = (ws: WebSocket) => {
    clients.add(ws);
    let alive = true;
    const events = new EventBatcher((batch) => {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > MAX_BUFFERED) {
        ws.close(1013, 'too far behind: reconnect');
        return;
      }
      ws.send(JSON.stringify({ events: batch } satisfies RpcEventBatch));
    });
    const unsubscribe = service.subscribe((e) => events.push(e));
    const ping = setInterval(() => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
    }, 30_000);
    ws.on('pong', () => {
      alive = true;
    });
    ws.on('close', () => {
      clients.delete(ws);
      clearInterval(ping);
      unsubscribe();
      events.close();
    });
    ws.on('error', () => ws.terminate());
    ws.on('message', (raw, isBinary) => {
      // A binary frame is not a call: the dispatcher answers it as a bad message.
      void dispatchMessage(dispatch, isBinary ? '' : String(raw)).then((reply: RpcReply) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(reply));
      });
    });
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: opts.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as net.AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    token,
    port,
    close: async () => {
      for (const ws of clients) ws.close(1001, 'the host is stopping');
      await new Promise<void>((resolve) => {
        wss.close(() => resolve());
      });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
