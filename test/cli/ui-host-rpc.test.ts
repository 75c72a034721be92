// The UI host's WebSocket as a transport of the one dispatcher, with a real gateway (AppCore in
// front of a real PostgreSQL), a real CoreService, the real host and a real WebSocket client:
// a burst of live statements arrives in fewer messages than events, none lost and in order, and
// failed calls carry their code as data (API codes and a PostgreSQL SQLSTATE).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import WebSocket from 'ws';
import { startUiHost, type UiHost } from '../../cli/ui-host.js';
import { CoreService } from '../../proxy/api/service.js';
import type { BastionEvent } from '../../shared/api.js';
import type { RpcEventBatch, RpcReply } from '../../shared/rpc.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const BURST = 300;

/** A WebSocket client of the host that keeps every message it receives, and makes calls. */
class HostClient {
  readonly messages: unknown[] = [];
  private nextId = 1;
  private readonly waiting = new Map<number, (r: RpcReply) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      const msg = JSON.parse(String(raw)) as Partial<RpcReply & RpcEventBatch>;
      if (typeof msg.id === 'number' && this.waiting.has(msg.id)) {
        this.waiting.get(msg.id)!(msg as RpcReply);
        this.waiting.delete(msg.id);
      } else this.messages.push(msg);
    });
  }

  static open(host: UiHost): Promise<HostClient> {
    const origin = `http://127.0.0.1:${host.port}`;
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/api?token=${host.token}`, { origin });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new HostClient(ws)));
      ws.once('error', reject);
    });
  }

  call(method: string, params: unknown[]): Promise<RpcReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Event messages so far, each the list of events it carried. */
  batches(): BastionEvent[][] {
    return this.messages
      .filter((m): m is RpcEventBatch => Array.isArray((m as RpcEventBatch).events))
      .map((m) => m.events);
  }

  close(): void {
    this.ws.close();
  }
}

function errorOf(reply: RpcReply): { message: string; code: string } {
  assert.ok('error' in reply, `expected an error, got ${JSON.stringify(reply).slice(0, 200)}`);
  return reply.error;
}

describe('UI host WebSocket: batched events and typed errors', { timeout: 120_000 }, () => {
  let db: TestPostgres;
  let gw: TestGateway;
  let service: CoreService;
  let host: UiHost;
  let staticDir: string;
  let client: HostClient;

  before(async () => {
    db = await startPostgres({ version: 18 });
    gw = await startGateway(db);
    service = new CoreService(gw.core, { operator: 'op', log: quiet });
    staticDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-ui-rpc-'));
    fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>t</title>');
    host = await startUiHost(service, { port: 0, staticDir });
    client = await HostClient.open(host);
  });

  after(async () => {
    client?.close();
    await host?.close();
    service?.dispose();
    await gw?.stop();
    await db?.stop();
    if (staticDir) fs.rmSync(staticDir, { recursive: true, force: true });
  });

  it('a burst of statements comes in fewer messages than events, every one, in order', async () => {
    const c = new pg.Client(gw.target());
    await c.connect();
    try {
      // Queued at once: each is sent as the one before completes, as fast as the gateway relays.
      await Promise.all(Array.from({ length: BURST }, (_, i) => c.query(`SELECT ${i + 1} AS n`)));
    } finally {
      await c.end();
    }
    const statements = () =>
      client
        .batches()
        .flat()
        .filter((e) => e.event === 'statement');
    const deadline = Date.now() + 30_000;
    while (statements().length < BURST && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

    const got = statements().map((e) => (e.event === 'statement' ? e.data : null)!);
    assert.equal(got.length, BURST, 'every statement arrived');
    assert.deepEqual(
      got.map((s) => s.sql),
      Array.from({ length: BURST }, (_, i) => `SELECT ${i + 1} AS n`),
      'in the order they ran',
    );
    const seqs = got.map((s) => s.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );
    const carrying = client.batches().filter((b) => b.some((e) => e.event === 'statement'));
    assert.ok(
      carrying.length < BURST,
      `${BURST} statements came in ${carrying.length} messages: they should be batched`,
    );
    assert.ok(
      carrying.some((b) => b.length > 1),
      'some message carried more than one event',
    );
    // Nothing but batches and replies: no event goes out on its own.
    for (const m of client.messages) assert.ok(Array.isArray((m as RpcEventBatch).events), JSON.stringify(m));
  });

  it('failed calls carry their code as data: unknown method, bad arguments, an approval, a SQLSTATE', async () => {
    const unknown = errorOf(await client.call('constructor', []));
    assert.equal(unknown.code, 'unknown-method');
    assert.equal(errorOf(await client.call('getSession', ['a', 'b'])).code, 'bad-arguments');
    const refused = errorOf(await client.call('saveConnection', [{ name: '../x' }]));
    assert.equal(refused.code, 'bad-arguments');
    assert.equal(
      errorOf(await client.call('decideApproval', ['no-such-approval', 'approve', 'x'])).code,
      'not-found',
    );
    const url = `postgres://${db.user}@127.0.0.1:${db.port}/${db.database}?sslmode=disable`;
    const sqlstate = errorOf(
      await client.call('openSharedStore', [{ url, password: 'not-the-password', role: 'reader' }]),
    );
    assert.equal(sqlstate.code, '28P01');
    const ok = await client.call('listConnections', []);
    assert.ok('result' in ok && Array.isArray(ok.result));
  });
});
