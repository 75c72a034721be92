// Appends per second to the shared PostgreSQL audit store (team mode, issue 11): several gateways'
// spools, each filled beforehand with a realistic mix of records (session opens and closes,
// statements, frame chunks), shipped at once by one StoreShipper per gateway into one shared store
// (a real PostgreSQL 18). Prints records/s and MB/s for the whole fleet, then verifies every chain
// in the shared store (and prints how long that took). Asserts nothing.
//
// Run: tsc && node dist/bench/team-store.js
// Knobs: BENCH_GATEWAYS (3), BENCH_STATEMENTS per gateway (20000), BENCH_BATCH (2000 records).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PgSessionStore } from '../proxy/store/pg/pg-store.js';
import { StoreShipper } from '../proxy/store/pg/shipper.js';
import { openSqliteStore } from '../proxy/store/sqlite-store.js';
import type { StoreEntry } from '../proxy/store/types.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { envNumber, fmtInt } from './common.js';

const GATEWAYS = envNumber('BENCH_GATEWAYS', 3);
const STATEMENTS = envNumber('BENCH_STATEMENTS', 20_000);
const BATCH = envNumber('BENCH_BATCH', 2000);
const PER_SESSION = 50;

function frame(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** One gateway's spool: sessions of PER_SESSION statements, each with a query frame and a result chunk. */
function fillSpool(file: string, gateway: number): { records: number; bytes: number } {
  const store = openSqliteStore(file);
  const t0 = Date.now() * 1000;
  let entries: StoreEntry[] = [];
  const row = frame(
    0x44,
    Buffer.from('\u0000\u0001\u0000\u0000\u0000\u0020customer-00042@example.com-partial'),
  );
  for (let n = 0; n < STATEMENTS; n++) {
    const s = Math.floor(n / PER_SESSION);
    const seq = (n % PER_SESSION) + 1;
    const sessionId = `00000000-0000-4000-8000-${gateway.toString(16).padStart(4, '0')}${s.toString(16).padStart(8, '0')}`;
    const at = t0 + n * 1000;
    if (seq === 1) {
      entries.push({
        kind: 'session_open',
        session: {
          id: sessionId,
          identity: `agent-${s % 7}`,
          authMethod: 'scram-sha-256',
          connection: 'app',
          clientAddress: '10.0.0.7:51234',
          applicationName: 'bench',
          database: 'app',
          tls: true,
          protocol: '3.0',
          startedAt: at,
          endedAt: null,
          endReason: null,
          statements: 0,
        },
      });
    }
    const sql = `SELECT id, email, total FROM public.orders WHERE customer_id = ${n % 977} LIMIT 10`;
    const q = frame(0x51, Buffer.from(`${sql}\u0000`));
    const result = Buffer.concat(Array.from({ length: 10 }, () => row));
    const first = (seq - 1) * 11 + 1; // one query frame, then ten rows
    entries.push({
      kind: 'frames',
      sessionId,
      seq: first,
      count: 1,
      dir: 'client',
      tUs: n * 1000,
      data: q,
    });
    entries.push({
      kind: 'frames',
      sessionId,
      seq: first + 1,
      count: 10,
      dir: 'server',
      tUs: n * 1000 + 300,
      data: result,
    });
    entries.push({
      kind: 'statement',
      statement: {
        sessionId,
        seq,
        protocol: 'simple',
        sql,
        params: null,
        startedAt: at,
        durationUs: 300,
        rows: 10,
        tag: 'SELECT 10',
        errorCode: null,
        errorMessage: null,
        decision: 'allow',
        rule: null,
        firstFrame: first,
        lastFrame: first + 10,
        truncated: false,
        uncapturedBytes: 0,
        uncapturedRows: 0,
        uncapturedDigest: null,
        masked: { email: 10 },
      },
    });
    if (seq === PER_SESSION) {
      entries.push({ kind: 'session_close', sessionId, endedAt: at + 500, endReason: 'client terminated' });
    }
    if (entries.length >= 5000) {
      store.append(entries);
      entries = [];
    }
  }
  store.append(entries);
  const records = store.chainHead.id;
  store.close();
  return { records, bytes: fs.statSync(file).size };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-bench-team-'));
const pg = await startPostgres({ version: 18 });
try {
  const target = {
    host: pg.host,
    port: pg.port,
    user: pg.user,
    password: pg.password,
    database: pg.database,
    sslmode: 'disable' as const,
    sslrootcert: null,
  };
  let records = 0;
  let bytes = 0;
  const spools: string[] = [];
  for (let g = 0; g < GATEWAYS; g++) {
    const file = path.join(dir, `gw-${g}.db`);
    const r = fillSpool(file, g);
    records += r.records;
    bytes += r.bytes;
    spools.push(file);
  }
  console.log(
    `${GATEWAYS} gateways, ${fmtInt(STATEMENTS)} statements each: ${fmtInt(records)} records, ${(bytes / 1e6).toFixed(1)} MB of spool`,
  );
  const quiet = {
    info: () => {},
    warn: (m: string) => console.error(m),
    error: (m: string) => console.error(m),
  };
  const shippers = spools.map(
    (spoolPath, g) =>
      new StoreShipper({ spoolPath, target, gateway: `gw-${g}`, log: quiet, batchRecords: BATCH }),
  );
  const t = performance.now();
  for (const s of shippers) s.start();
  await Promise.all(shippers.map((s) => s.drained(600_000)));
  const seconds = (performance.now() - t) / 1000;
  await Promise.all(shippers.map((s) => s.stop()));
  console.log(
    `shipped in ${seconds.toFixed(2)} s: ${fmtInt(records / seconds)} records/s (${fmtInt((GATEWAYS * STATEMENTS) / seconds)} statements/s), ${(bytes / 1e6 / seconds).toFixed(1)} MB/s of spool`,
  );
  const v = performance.now();
  const shared = new PgSessionStore(target);
  const results = shared.verifyGateways();
  shared.close();
  console.log(
    `verify: ${results.map((r) => `${r.gateway} ${r.ok ? 'ok' : `FAILED at ${r.firstBad?.id}`} (${fmtInt(r.records)})`).join(', ')} in ${((performance.now() - v) / 1000).toFixed(2)} s`,
  );
} finally {
  await pg.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
