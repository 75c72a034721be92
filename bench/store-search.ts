// Store search at scale: generates a store with 1,000,000 statements (20,000 sessions of 20
// identities on 4 connections, 16 sessions at a time, so their records interleave as they do in
// a real gateway) plus one session of 100,000 frames, then measures what the Sessions screen and
// the replayer ask of it: session lists and filters, full-text searches, paging, and opening and
// paging through the big session. Prints latencies (median and worst of several runs); asserts
// nothing.
//
// Run: tsc && node dist/bench/store-search.js
// Knobs: BENCH_STATEMENTS (1000000), BENCH_SESSIONS (20000), BENCH_RUNS (7),
//        BENCH_STORE=path (reuse a store generated before; made there when missing).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSqliteStore, type SqliteSessionStore } from '../proxy/store/sqlite-store.js';
import type { StoreEntry } from '../proxy/store/types.js';
import { decodeFrame } from '../proxy/wire/decode.js';
import type { SessionSearch } from '../shared/api.js';
import type { Decision, StatementRecord } from '../shared/types.js';

const STATEMENTS = Number(process.env.BENCH_STATEMENTS ?? 1_000_000);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 20_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const REPLAY_FRAMES = 100_000;
const T0 = 1_750_000_000_000_000;

const TABLES = ['customers', 'orders', 'invoices', 'products', 'payments', 'shipments', 'users', 'events'];
const COLUMNS = ['id', 'email', 'name', 'total', 'status', 'country', 'created_at', 'amount'];
const RARE = 'zanzibar';

/** A small deterministic PRNG (mulberry32): the same store every time. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sessionId(n: number): string {
  const h = n.toString(16).padStart(12, '0');
  return `be0c${h.slice(0, 4)}-0000-4000-8000-${h}`;
}

function frame(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** A RowDescription naming text columns (no table). */
function rowDescription(names: string[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(2)];
  parts[0].writeUInt16BE(names.length);
  for (const n of names) {
    const meta = Buffer.alloc(18);
    meta.writeUInt32BE(25, 6); // text
    meta.writeInt16BE(-1, 10);
    meta.writeInt32BE(-1, 12);
    parts.push(Buffer.from(`${n}\0`), meta);
  }
  return frame(0x54, Buffer.concat(parts));
}

function dataRow(values: string[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(2)];
  parts[0].writeUInt16BE(values.length);
  for (const v of values) {
    const b = Buffer.from(v);
    const len = Buffer.alloc(4);
    len.writeInt32BE(b.length);
    parts.push(len, b);
  }
  return frame(0x44, Buffer.concat(parts));
}

function generate(file: string): void {
  const store = openSqliteStore(file);
  const rand = rng(42);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const perSession = Math.floor(STATEMENTS / SESSIONS);
  const started = Date.now();
  let batch: StoreEntry[] = [];
  const flush = () => {
    store.append(batch);
    batch = [];
  };
  let written = 0;
  const WAVE = 16;
  for (let w = 0; w < SESSIONS; w += WAVE) {
    const wave = Array.from({ length: Math.min(WAVE, SESSIONS - w) }, (_, i) => w + i);
    const base = T0 + w * 30_000_000;
    for (const n of wave) {
      batch.push({
        kind: 'session_open',
        session: {
          id: sessionId(n),
          identity: `agent-${n % 20}`,
          authMethod: 'scram-sha-256',
          connection: ['app', 'reporting', 'billing', 'analytics'][n % 4],
          clientAddress: `10.0.${n % 250}.${(n * 7) % 250}:${40000 + (n % 20000)}`,
          applicationName: n % 3 === 0 ? 'psql' : 'mcp-server-postgres',
          database: 'appdb',
          tls: true,
          protocol: '3.0',
          startedAt: base + (n - w) * 1000,
          endedAt: null,
          endReason: null,
          statements: 0,
        },
      });
    }
    for (let seq = 1; seq <= perSession; seq++) {
      for (const n of wave) {
        const table = pick(TABLES);
        const col = pick(COLUMNS);
        const r = rand();
        let sql: string;
        let decision: Decision = 'allow';
        let rule: string | null = null;
        let errorCode: string | null = null;
        if (r < 0.005) {
          sql = `drop table ${table}`;
          decision = 'block';
          rule = 'no-drop';
        } else if (r < 0.008) {
          sql = `delete from ${table}`;
          decision = 'review';
          rule = 'unbounded-writes';
        } else if (r < 0.018) {
          sql = `select ${col} from ${table}_archive where ${col} = $1`;
          errorCode = '42P01';
        } else if (r < 0.6) {
          sql = `select ${col}, count(*) from ${table} where ${pick(COLUMNS)} > $1 group by ${col} limit 100`;
        } else if (r < 0.85) {
          sql = `select * from ${table} t join ${pick(TABLES)} u on u.id = t.${col} where t.id = ${Math.floor(rand() * 1e6)}`;
        } else {
          sql = `update ${table} set ${col} = $1 where id = ${Math.floor(rand() * 1e6)}`;
        }
        if (rand() < 0.00005) sql += ` /* ${RARE} */`;
        const st: StatementRecord = {
          sessionId: sessionId(n),
          seq,
          protocol: 'extended',
          sql,
          params: ['42'],
          startedAt: base + seq * 20_000 + (n - w),
          durationUs: 300 + Math.floor(rand() * 5000),
          rows: errorCode ? 0 : Math.floor(rand() * 100),
          tag: errorCode ? null : 'SELECT 10',
          errorCode,
          errorMessage: errorCode ? `relation "${table}_archive" does not exist` : null,
          decision,
          rule,
          firstFrame: seq * 8,
          lastFrame: seq * 8 + 7,
          truncated: false,
          uncapturedBytes: 0,
          uncapturedRows: 0,
          uncapturedDigest: null,
          masked: {},
        };
        batch.push({ kind: 'statement', statement: st });
        written++;
      }
      if (batch.length >= 5000) flush();
    }
    for (const n of wave) {
      batch.push({
        kind: 'session_close',
        sessionId: sessionId(n),
        endedAt: base + (perSession + 1) * 20_000,
        endReason: 'client terminated',
      });
    }
    if (written % 100_000 < perSession * WAVE) {
      const s = (Date.now() - started) / 1000;
      process.stderr.write(
        `\r  ${written.toLocaleString('en')} statements (${Math.round(written / s)}/s)   `,
      );
    }
  }
  flush();

  // One long session for the replayer: 100,000 frames, statements of 1 + 8 rows + 2 frames.
  const big = sessionId(SESSIONS + 1);
  store.append([
    {
      kind: 'session_open',
      session: {
        id: big,
        identity: 'agent-replay',
        authMethod: 'scram-sha-256',
        connection: 'app',
        clientAddress: '10.9.9.9:50000',
        applicationName: 'psql',
        database: 'appdb',
        tls: true,
        protocol: '3.0',
        startedAt: T0 + SESSIONS * 30_000_000,
        endedAt: null,
        endReason: null,
        statements: 0,
      },
    },
  ]);
  let seq = 1;
  let st = 1;
  const rd = rowDescription(['id', 'email']);
  while (seq <= REPLAY_FRAMES - 12) {
    const first = seq;
    const q = frame(0x51, Buffer.from(`select id, email from customers where id > ${st}\0`));
    const rows = Array.from({ length: 8 }, (_, i) => dataRow([String(st + i), `c${st + i}@example.com`]));
    const entries: StoreEntry[] = [
      { kind: 'frames', sessionId: big, seq, count: 1, dir: 'client', tUs: st * 2000, data: q },
      {
        kind: 'frames',
        sessionId: big,
        seq: seq + 1,
        count: 11,
        dir: 'server',
        tUs: st * 2000 + 700,
        data: Buffer.concat([
          rd,
          ...rows,
          frame(0x43, Buffer.from('SELECT 8\0')),
          frame(0x5a, Buffer.from('I')),
        ]),
      },
    ];
    seq += 12;
    entries.push({
      kind: 'statement',
      statement: {
        sessionId: big,
        seq: st,
        protocol: 'simple',
        sql: `select id, email from customers where id > ${st}`,
        params: null,
        startedAt: T0 + SESSIONS * 30_000_000 + st * 2000,
        durationUs: 700,
        rows: 8,
        tag: 'SELECT 8',
        errorCode: null,
        errorMessage: null,
        decision: 'allow',
        rule: null,
        firstFrame: first,
        lastFrame: seq - 1,
        truncated: false,
        uncapturedBytes: 0,
        uncapturedRows: 0,
        uncapturedDigest: null,
        masked: {},
      },
    });
    batch.push(...entries);
    st++;
    if (batch.length >= 5000) flush();
  }
  flush();
  store.close();
  process.stderr.write(`\n  generated in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

function time(fn: () => unknown): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function measure(name: string, fn: () => unknown, describe?: () => string): void {
  fn(); // warm: statements prepared, pages cached
  const times = Array.from({ length: RUNS }, () => time(fn)).sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const worst = times[times.length - 1];
  const what = describe ? `  ${describe()}` : '';
  console.log(
    `${name.padEnd(58)} ${median.toFixed(2).padStart(8)} ms  (worst ${worst.toFixed(2)} ms)${what}`,
  );
}

function main(): void {
  const file =
    process.env.BENCH_STORE ??
    path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-bench-')), 'bastion.db');
  if (!fs.existsSync(file)) {
    console.log(
      `generating ${STATEMENTS.toLocaleString('en')} statements in ${SESSIONS.toLocaleString('en')} sessions: ${file}`,
    );
    generate(file);
  }
  const store: SqliteSessionStore = openSqliteStore(file, { readonly: true });
  const mb = (fs.statSync(file).size / 1e6).toFixed(0);
  const count = (store as unknown as { pragma(s: string): unknown }).pragma('page_count');
  console.log(`store: ${file} (${mb} MB, ${JSON.stringify(count)})`);
  let last: ReturnType<SqliteSessionStore['searchSessions']> | undefined;
  const keep = (q: SessionSearch) => () => {
    last = store.searchSessions(q);
  };
  const shown = () =>
    `${last?.sessions.length} shown, total ${last?.total ?? 'unknown'}${last?.more ? ', more' : ''}`;

  console.log('\nsessions (page of 50, newest first, with total):');
  measure('all, first page', keep({ limit: 50 }), shown);
  measure('all, page 100 (offset 4,950)', keep({ limit: 50, offset: 4950 }), shown);
  measure('identity = agent-7', keep({ identity: 'agent-7', limit: 50 }), shown);
  measure(
    'connection = billing, one day',
    keep({ connection: 'billing', since: T0, until: T0 + 86_400_000_000, limit: 50 }),
    shown,
  );
  measure('has blocked', keep({ hasBlocked: true, limit: 50 }), shown);
  measure('has held + identity agent-3', keep({ hasHeld: true, identity: 'agent-3', limit: 50 }), shown);
  measure('has errors, page 20', keep({ hasErrors: true, limit: 50, offset: 950 }), shown);

  console.log('\nsessions by what was said (full-text over 1M statements):');
  measure('"customers" (common word)', keep({ text: 'customers', limit: 50 }), shown);
  measure('"customers", page 10', keep({ text: 'customers', limit: 50, offset: 450 }), shown);
  measure(`"${RARE}" (rare word)`, keep({ text: RARE, limit: 50 }), shown);
  measure('"invo" (prefix)', keep({ text: 'invo', limit: 50 }), shown);
  measure('"drop table invoices" (three words)', keep({ text: 'drop table invoices', limit: 50 }), shown);
  measure(
    '"customers" + identity agent-7 (1,000 sessions)',
    keep({ text: 'customers', identity: 'agent-7', limit: 50 }),
    shown,
  );
  measure('"orders" + has blocked', keep({ text: 'orders', hasBlocked: true, limit: 50 }), shown);
  measure(
    '"payments" + connection billing (5,000 sessions)',
    keep({ text: 'payments', connection: 'billing', limit: 50 }),
    shown,
  );
  measure(
    '"customers" + agent-3 on one day (few sessions: exact total)',
    keep({ text: 'customers', identity: 'agent-3', since: T0, until: T0 + 86_400_000_000, limit: 50 }),
    shown,
  );
  measure(
    '"customers" + identity agent-replay (1 session: worst case)',
    keep({ text: 'customers', identity: 'agent-replay', limit: 50 }),
    shown,
  );

  console.log('\nstatements by text (page of 50, newest first):');
  let found = 0;
  measure(
    '"customers"',
    () => {
      found = store.searchStatements('customers', 50).statements.length;
    },
    () => `${found} shown`,
  );
  measure('"customers", offset 5,000', () => store.searchStatements('customers', 50, 5000));
  measure(
    `"${RARE}"`,
    () => {
      found = store.searchStatements(RARE, 50).statements.length;
    },
    () => `${found} shown`,
  );
  measure('"email customers archive"', () => store.searchStatements('email customers archive', 50));

  console.log('\nreplayer, one session of 100,000 frames:');
  const big = sessionId(SESSIONS + 1);
  let marks = 0;
  measure(
    'open: frame count + timeline marks of every statement',
    () => {
      store.frameCount(big);
      marks = store.statementMarks(big).length / 4;
    },
    () => `${marks.toLocaleString('en')} statements`,
  );
  for (const at of [1, 50_000, 99_500]) {
    measure(`page of 500 frames at ${at.toLocaleString('en')}, decoded`, () => {
      for (const f of store.readFrames(big, at, 500)) decodeFrame(f.dir, f.type, f.body);
    });
  }
  measure('page of 200 statements at 4,000', () => store.statementsPage(big, 4000, 200));
  store.close();
  if (!process.env.BENCH_STORE) fs.rmSync(path.dirname(file), { recursive: true, force: true });
}

main();
