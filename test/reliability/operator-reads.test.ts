// Operator work never stalls the relay. A store of 1,000,000 records behind a real gateway
// (AppCore, real sockets, PostgreSQL 18); a client in its own process runs `SELECT 1` in a tight
// loop through the gateway while the operator, through the real WebSocket UI host and the
// service behind it, verifies the store, searches sessions by text and exports a report. Every
// session shares the gateway's one event loop: the client's slowest round trip must stay under
// 500 ms (a liveness bound, not a speed claim), and each operation must return the right answer.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { startUiHost, type UiHost } from '../../cli/ui-host.js';
import { CoreService } from '../../proxy/api/service.js';
import type { ReportFile, SessionSearchResult } from '../../shared/api.js';
import type { VerifyResult } from '../../shared/types.js';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  buildBigStore,
  NEEDLE,
  NEEDLE_EVERY,
  RECORDS_PER_SESSION,
  SESSION_T0,
  sessionId,
} from './big-store.js';

/** REL_READS_SESSIONS: fewer sessions, to try the test quickly (the bound then proves little). */
const SESSIONS = Number(process.env.REL_READS_SESSIONS ?? 10_000);
const RECORDS = SESSIONS * RECORDS_PER_SESSION; // 1,000,000
const WORST_ROUND_TRIP_MS = 500;
/**
 * The report covers alice's sessions among 1,000 (sessions start a second apart): it still
 * verifies the whole store, and its file (about 1 MB) stays small enough that this process, which
 * is also the API's client, does not stall its own event loop reading it.
 */
const REPORT_FIRST = Math.floor(SESSIONS / 5);
const REPORT_SESSIONS = Math.min(1000, SESSIONS - REPORT_FIRST);
const REPORT = {
  format: 'json',
  identity: 'alice',
  since: SESSION_T0 + REPORT_FIRST * 1_000_000,
  until: SESSION_T0 + (REPORT_FIRST + REPORT_SESSIONS) * 1_000_000 - 1,
};

let db: TestPostgres;
let dir: string;
let gw: TestGateway;
let service: CoreService;
let host: UiHost;
let loopProcess: ChildProcess | undefined;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-rel-reads-'));
  const storePath = path.join(dir, 'bastion.db');
  db = await startPostgres({ version: 18 });
  const t = Date.now();
  buildBigStore(storePath, SESSIONS);
  console.log(`built a store of ${RECORDS.toLocaleString('en')} records in ${Date.now() - t} ms`);
  gw = await startGateway(db, { storePath });
  service = new CoreService(gw.core);
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>t</title>');
  host = await startUiHost(service, { port: 0, staticDir: dir });
});

after(async () => {
  loopProcess?.kill('SIGKILL');
  await host?.close();
  service?.dispose();
  await gw?.stop();
  await db?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The WebSocket API as the browser UI uses it: {id, method, params} -> {id, result | error}. */
async function connectApi(): Promise<{
  call<T>(method: string, ...params: unknown[]): Promise<T>;
  close(): void;
}> {
  const origin = `http://127.0.0.1:${host.port}`;
  const ws = new WebSocket(`ws://127.0.0.1:${host.port}/api?token=${host.token}`, { origin });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as { id?: number; result?: unknown; error?: { message: string } };
    const w = typeof m.id === 'number' ? waiting.get(m.id) : undefined;
    if (!w) return; // an event
    waiting.delete(m.id!);
    if (m.error) w.reject(new Error(m.error.message));
    else w.resolve(m.result);
  });
  let next = 1;
  return {
    call<T>(method: string, ...params: unknown[]) {
      const id = next++;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      });
    },
    close: () => ws.close(),
  };
}

/** The SELECT 1 loop in its own process, logged in through the gateway. */
async function startSelectLoop(): Promise<{
  child: ChildProcess;
  stop(): Promise<{ count: number; worstMs: number; worstAtMs: number }>;
}> {
  const script = fileURLToPath(new URL('./select-loop.js', import.meta.url));
  const child = spawn(process.execPath, [script], {
    env: {
      PATH: process.env.PATH ?? '',
      PGHOST: gw.host,
      PGPORT: String(gw.port),
      PGUSER: AGENT.name,
      PGPASSWORD: AGENT.password,
      PGDATABASE: 'appdb',
      PGSSLMODE: 'disable',
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  loopProcess = child;
  const lines = readline.createInterface({ input: child.stdout! });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`the SELECT 1 loop exited (code ${code})`)));
    });
  assert.equal(await next(), 'ready');
  return {
    child,
    async stop() {
      const result = next();
      child.stdin!.write('stop\n');
      return JSON.parse(await result);
    },
  };
}

test('verify, a session search and a report export over 1,000,000 records do not stall a SELECT 1 loop', async (t) => {
  const api = await connectApi();
  const loop = await startSelectLoop();
  // Round trips before the operator starts, for comparison.
  await new Promise((r) => setTimeout(r, 1000));
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, p: () => Promise<T>): Promise<T> => {
    const s = Date.now();
    const v = await p();
    timings[name] = Date.now() - s;
    return v;
  };
  let verify: VerifyResult;
  let search: SessionSearchResult;
  let report: ReportFile;
  try {
    // All three at once, as an operator clicking around would.
    [verify, search, report] = await Promise.all([
      timed('verify', () => api.call<VerifyResult>('verifyStore')),
      timed('search', () => api.call<SessionSearchResult>('searchSessions', { text: NEEDLE, limit: 50 })),
      timed('report', () => api.call<ReportFile>('exportReport', REPORT)),
    ]);
  } finally {
    api.close();
  }
  const rtt = await loop.stop();
  t.diagnostic(
    `SELECT 1 loop: ${rtt.count} round trips, worst ${rtt.worstMs.toFixed(1)} ms (at ${rtt.worstAtMs} ms); ` +
      `verify ${timings.verify} ms, search ${timings.search} ms, report ${timings.report} ms (${report.bytes} bytes)`,
  );

  // Verify: ok, over every record: the built million plus what the gateway recorded since (the
  // loop's session), up to the head it names.
  assert.equal(verify.ok, true, JSON.stringify(verify.firstBad));
  assert.ok(verify.records > RECORDS, `verified ${verify.records} records`);
  gw.flush();
  const file = new Database(gw.storePath, { readonly: true });
  try {
    const head = file
      .prepare('SELECT lower(hex(digest)) FROM records WHERE id = ?')
      .pluck()
      .get(verify.records);
    assert.equal(head, verify.head, 'verify reports the digest of the record it counted last');
  } finally {
    file.close();
  }

  // The search: exactly the sessions with the planted word, newest first.
  const expected = Array.from({ length: SESSIONS / NEEDLE_EVERY }, (_, k) =>
    sessionId(k * NEEDLE_EVERY),
  ).reverse();
  assert.deepEqual(
    search.sessions.map((s) => s.id),
    expected,
  );
  assert.ok(search.sessions.every((s) => s.match?.sql.includes(NEEDLE)));

  // The report: alice's half of those sessions, each with its two statements, over a verified store.
  assert.equal(report.summary.sessions, REPORT_SESSIONS / 2);
  assert.equal(report.summary.statements, REPORT_SESSIONS);
  assert.equal(report.summary.verified, true);
  const body = JSON.parse(Buffer.from(report.base64, 'base64').toString('utf8')) as { digest: string };
  assert.equal(body.digest, report.summary.digest);

  assert.ok(rtt.count > 100, `the loop made ${rtt.count} round trips`);
  assert.ok(
    rtt.worstMs < WORST_ROUND_TRIP_MS,
    `the worst SELECT 1 round trip took ${rtt.worstMs.toFixed(0)} ms (bound ${WORST_ROUND_TRIP_MS} ms): operator work stalled the relay`,
  );
});
