// Recording. (1) Throughput on its own: 16 sessions' FrameRecorders feed one writer into a
// fresh SQLite store with pgbench-like traffic (each transaction: one client chunk, one server
// chunk, one statement record; half the sessions simple protocol, half prepared), produced as fast
// as one event loop can while the writer flushes on its own schedule. Target ≥ 200,000 frames/s,
// counted from the first frame to the last one committed, for the writer `bastion serve` uses
// (WorkerStoreWriter); the in-thread StoreWriter is measured alongside for comparison. (2) No backlog: a full `pgbench -S` run
// through `bastion serve`; once pgbench exits, the store must hold every transaction it reported,
// and serve must stop with nothing left to flush (exit 0).
// Knobs: BENCH_FRAMES (2000000), BENCH_SECONDS (10), BENCH_CLIENTS (the largest is used),
// BENCH_WRITERS ("worker,in-thread").
// Run on its own: node dist/bench/recorder.js

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { segmentPaths } from '../proxy/store/journal.js';
import { FrameRecorder } from '../proxy/store/recorder.js';
import { openSqliteStore } from '../proxy/store/sqlite-store.js';
import type { StoreEntry } from '../proxy/store/types.js';
import { journalPath, WorkerStoreWriter } from '../proxy/store/worker-writer.js';
import { type RecordWriter, StoreWriter } from '../proxy/store/writer.js';
import type { SessionInfo, StatementRecord } from '../shared/types.js';
import { startPostgres } from '../test/helpers/postgres.js';
import {
  type BenchRow,
  envClients,
  envList,
  envNumber,
  fmtInt,
  fmtMb,
  partRows,
  sleep,
  startServe,
} from './common.js';
import { type PgbenchMode, pgbenchArgs, pgbenchInit, runPgbench } from './pgbench.js';
import { isMain, runScenarios, type Scenario } from './report.js';

const FRAMES_TARGET = 200_000;
const SESSIONS = 16;
/** Transactions produced between two yields to the event loop (where the writer's timer fires). */
const TX_PER_TURN = 500;
/** How long after pgbench exits the store may still be catching up and count as "no backlog". */
const CATCH_UP_LIMIT_MS = 1000;

function knobs() {
  return {
    frames: Math.round(envNumber('BENCH_FRAMES', 2_000_000)),
    seconds: envNumber('BENCH_SECONDS', 10),
    clients: Math.max(...envClients()),
    writers: envList('BENCH_WRITERS', 'worker,in-thread').map((w) => {
      if (w !== 'worker' && w !== 'in-thread')
        throw new Error(`BENCH_WRITERS: "${w}" is not worker or in-thread`);
      return w as WriterKind;
    }),
  };
}

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const cstr = (s: string) => Buffer.from(`${s}\0`);
const int16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const SELECT = 'SELECT abalance FROM pgbench_accounts WHERE aid =';

/** RowDescription of `abalance int4`, as PostgreSQL sends it for pgbench -S. */
const ROW_DESCRIPTION = message(
  'T',
  Buffer.concat([
    int16(1),
    cstr('abalance'),
    int32(16397),
    int16(3),
    int32(23),
    int16(4),
    int32(-1),
    int16(0),
  ]),
);
const DATA_ROW = message('D', Buffer.concat([int16(1), int32(1), Buffer.from('0')]));
const COMPLETE = message('C', cstr('SELECT 1'));
const READY = message('Z', Buffer.from('I'));
const BIND_COMPLETE = message('2', Buffer.alloc(0));
const SIMPLE_REPLY = Buffer.concat([ROW_DESCRIPTION, DATA_ROW, COMPLETE, READY]);
const PREPARED_REPLY = Buffer.concat([BIND_COMPLETE, ROW_DESCRIPTION, DATA_ROW, COMPLETE, READY]);

function clientChunk(prepared: boolean, aid: number): Buffer {
  if (!prepared) return message('Q', cstr(`${SELECT} ${aid};`));
  const value = Buffer.from(String(aid));
  return Buffer.concat([
    message(
      'B',
      Buffer.concat([cstr(''), cstr('P_0'), int16(0), int16(1), int32(value.length), value, int16(0)]),
    ),
    message('D', Buffer.concat([Buffer.from('P'), cstr('')])),
    message('E', Buffer.concat([cstr(''), int32(0)])),
    message('S', Buffer.alloc(0)),
  ]);
}

/** Frame boundaries of a chunk: [start, end) of each message. */
function bounds(chunk: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let o = 0; o < chunk.length; ) {
    const end = o + 1 + chunk.readInt32BE(o + 1);
    out.push([o, end]);
    o = end;
  }
  return out;
}

interface Simulated {
  rec: FrameRecorder;
  prepared: boolean;
  statements: number;
}

function sessionInfo(id: string, n: number): SessionInfo {
  return {
    id,
    identity: `agent-${n % 4}`,
    authMethod: 'scram-sha-256',
    connection: 'app',
    clientAddress: `127.0.0.1:${40000 + n}`,
    applicationName: 'pgbench',
    database: 'appdb',
    tls: false,
    protocol: '3.0',
    startedAt: Date.now() * 1000,
    endedAt: null,
    endReason: null,
    statements: 0,
  };
}

/** One pgbench-like transaction, recorded as a session records it: per socket read, a chunk. */
function transaction(s: Simulated, aid: number): number {
  const { rec } = s;
  const client = clientChunk(s.prepared, aid);
  const startedAt = rec.epochNow();
  rec.begin('client');
  const first = rec.nextSeq;
  for (const [a, b] of bounds(client)) rec.frame(client, a, b);
  rec.end();
  // A fresh buffer per read, as a socket hands them out.
  const reply = Buffer.from(s.prepared ? PREPARED_REPLY : SIMPLE_REPLY);
  rec.begin('server');
  let last = first;
  for (const [a, b] of bounds(reply)) last = rec.frame(reply, a, b);
  const statement: StatementRecord = {
    sessionId: rec.sessionId,
    seq: ++s.statements,
    protocol: s.prepared ? 'extended' : 'simple',
    sql: s.prepared ? `${SELECT} $1;` : `${SELECT} ${aid};`,
    params: s.prepared ? [String(aid)] : null,
    startedAt,
    durationUs: rec.epochNow() - startedAt,
    rows: 1,
    tag: 'SELECT 1',
    errorCode: null,
    errorMessage: null,
    decision: 'allow',
    rule: null,
    firstFrame: first,
    lastFrame: last,
    truncated: false,
    uncapturedBytes: 0,
    uncapturedRows: 0,
    uncapturedDigest: null,
    masked: {},
  };
  rec.statement(statement);
  rec.end();
  return last - first + 1;
}

type WriterKind = 'worker' | 'in-thread';

interface WriterUnderTest {
  writer: RecordWriter;
  /** Time spent inside SQLite appends on this thread (in-thread writer only). */
  appendMs(): number | null;
  /** Closes the writer (flushing) and whatever it opened. */
  close(): boolean;
}

/** The writer `bastion serve` uses (its own thread), or the in-thread StoreWriter for comparison. */
function makeWriter(kind: WriterKind, storePath: string, onError: (e: Error) => void): WriterUnderTest {
  if (kind === 'worker') {
    const writer = new WorkerStoreWriter(storePath, { onError });
    return { writer, appendMs: () => null, close: () => writer.close() };
  }
  // As the gateway opens its store (and the writer thread its own): chunks joined per append.
  const store = openSqliteStore(storePath, { joinFrameChunks: true });
  let appendMs = 0;
  const append = store.append.bind(store);
  store.append = (entries: readonly StoreEntry[]) => {
    const t0 = performance.now();
    append(entries);
    appendMs += performance.now() - t0;
  };
  const writer = new StoreWriter(store, { onError });
  return {
    writer,
    appendMs: () => appendMs,
    close: () => {
      const ok = writer.close();
      store.close();
      return ok;
    },
  };
}

async function throughput(frames: number, kind: WriterKind): Promise<BenchRow> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-bench-recorder-'));
  const storePath = path.join(dir, 'recorder.db');
  try {
    let failure: Error | null = null;
    const w = makeWriter(kind, storePath, (e) => {
      failure = e;
    });
    const sessions: Simulated[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      const id = `be0cbe0c-0000-4000-8000-${String(i).padStart(12, '0')}`;
      const rec = new FrameRecorder(w.writer, id);
      rec.open(sessionInfo(id, i));
      sessions.push({ rec, prepared: i % 2 === 1, statements: 0 });
    }
    let produced = 0;
    let tx = 0;
    let aid = 1;
    const t0 = performance.now();
    while (produced < frames) {
      for (let i = 0; i < TX_PER_TURN && produced < frames; i++) {
        produced += transaction(sessions[tx++ % SESSIONS], aid);
        aid = (aid * 7919 + 13) % 1_000_000;
      }
      await new Promise((r) => setImmediate(r));
      if (failure) throw new Error(`store writer failed: ${(failure as Error).message}`);
    }
    for (const s of sessions) s.rec.close('client terminated', sessionInfo(s.rec.sessionId, 0));
    // Everything committed: the clock stops when the last frame is in SQLite.
    if (!w.writer.flush()) throw new Error(`store writer failed: ${w.writer.lastError?.message}`);
    const secs = (performance.now() - t0) / 1000;
    const appendMs = w.appendMs();
    if (!w.close()) throw new Error(`store writer failed on close: ${w.writer.lastError?.message}`);

    // What was measured must be in the store.
    const store = openSqliteStore(storePath, { readonly: true });
    let stored: number;
    let statements: number;
    try {
      stored = sessions.reduce((n, s) => n + store.frameCount(s.rec.sessionId), 0);
      statements = store.listSessions().reduce((n, s) => n + s.statements, 0);
    } finally {
      store.close();
    }
    if (stored !== produced || statements !== tx) {
      throw new Error(
        `store holds ${stored} frames and ${statements} statements, expected ${produced} and ${tx}`,
      );
    }
    const rate = produced / secs;
    const detail =
      kind === 'worker'
        ? 'sessions on the main thread, SQLite on the writer thread, as in `bastion serve`'
        : `one thread; SQLite appends alone ${fmtInt(produced / ((appendMs ?? 0) / 1000))} frames/s`;
    return {
      scenario: `recorder on its own (${kind} writer): ${SESSIONS} sessions of pgbench-like traffic into SQLite`,
      target: `≥ ${fmtInt(FRAMES_TARGET)} frames/s`,
      measured: `${fmtInt(rate)} frames/s (${fmtInt(produced)} frames, ${fmtInt(tx)} statements in ${secs.toFixed(2)} s; ${detail})`,
      ratio: rate / FRAMES_TARGET,
      // The gateway's writer carries the target; the in-thread one is for comparison.
      pass: kind === 'worker' ? rate >= FRAMES_TARGET : null,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** pgbench statements recorded in sessions opened at or after `since` (epoch µs); null while any of them is still open. */
function recordedSince(db: Database.Database, since: number): number | null {
  const open = db.prepare('SELECT count(*) FROM sessions WHERE started_at >= ? AND close_record_id IS NULL');
  if ((open.pluck().get(since) as number) > 0) return null;
  return db
    .prepare(
      `SELECT count(*) FROM statements st JOIN sessions s ON s.id = st.session_id
       WHERE s.started_at >= ? AND st.sql LIKE 'SELECT abalance FROM pgbench_accounts WHERE aid = %'`,
    )
    .pluck()
    .get(since) as number;
}

async function noBacklog(seconds: number, clients: number): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-bench-backlog-'));
  const db = await startPostgres({ version: 18 });
  let serve: Awaited<ReturnType<typeof startServe>> | null = null;
  const rows: BenchRow[] = [];
  try {
    await pgbenchInit(db, 1);
    serve = await startServe({ db, dir, identities: [{ name: 'bench', password: 'bench-secret' }] });
    const reader = new Database(serve.storePath, { readonly: true, fileMustExist: true });
    try {
      for (const mode of ['simple', 'prepared'] as PgbenchMode[]) {
        const since = Date.now() * 1000;
        // The recording journal on disk, both segments, every 100 ms of the run.
        let journalPeak = 0;
        const journalFiles = segmentPaths(journalPath(serve.storePath));
        const sampler = setInterval(() => {
          let bytes = 0;
          for (const f of journalFiles) bytes += fs.statSync(f, { throwIfNoEntry: false })?.size ?? 0;
          journalPeak = Math.max(journalPeak, bytes);
        }, 100);
        const result = await runPgbench(serve.endpoint('bench'), mode, clients, seconds, dir).finally(() =>
          clearInterval(sampler),
        );
        const exited = performance.now();
        let got = recordedSince(reader, since);
        while (got === null || got < result.transactions) {
          if (performance.now() - exited > 30_000) break;
          await sleep(5);
          got = recordedSince(reader, since);
        }
        const lagMs = performance.now() - exited;
        const statements = got ?? 0;
        rows.push({
          scenario: `recorder after a full pgbench run through Bastion (-S -M ${mode} -c ${clients}, ${seconds} s)`,
          target: `every transaction in the store, no backlog (≤ ${CATCH_UP_LIMIT_MS} ms after pgbench exits)`,
          measured: `${fmtInt(statements)} of ${fmtInt(result.transactions)} transactions recorded ${lagMs.toFixed(0)} ms after pgbench exited (${fmtInt(result.tps)} tps)`,
          ratio: null,
          pass: statements === result.transactions && lagMs <= CATCH_UP_LIMIT_MS,
        });
        rows.push({
          scenario: `recording journal during that run (-S -M ${mode} -c ${clients}, ${seconds} s)`,
          target: 'stays small: emptied segment by segment as the store applies it (journal.ts)',
          measured: `peak ${fmtMb(journalPeak / 1024)} on disk (${fmtInt(result.transactions)} transactions)`,
          ratio: null,
          pass: null,
        });
      }
    } finally {
      reader.close();
    }
    const code = await serve.stop();
    rows.push({
      scenario: 'recorder: bastion serve stops after those runs',
      target: 'exit 0 (nothing left to flush)',
      measured: `exit ${code}`,
      ratio: null,
      pass: code === 0,
    });
  } finally {
    await serve?.stop();
    await db.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export async function recorderScenario(): Promise<BenchRow[]> {
  const { frames, seconds, clients, writers } = knobs();
  const rows: BenchRow[] = [];
  for (const kind of writers) {
    rows.push(
      ...(await partRows(
        `recorder on its own (${kind} writer)`,
        `≥ ${fmtInt(FRAMES_TARGET)} frames/s`,
        async () => [await throughput(frames, kind)],
      )),
    );
  }
  rows.push(
    ...(await partRows('recorder after a full pgbench run through Bastion', 'no backlog', () =>
      noBacklog(seconds, clients),
    )),
  );
  return rows;
}

export const recorder: Scenario = {
  name: 'recorder',
  run: recorderScenario,
  commands: () => {
    const { frames, seconds, clients, writers } = knobs();
    const described = {
      worker: 'WorkerStoreWriter (its own thread, what `bastion serve` uses)',
      'in-thread': 'StoreWriter (in thread)',
    };
    return [
      `# recorder: ${fmtInt(frames)} frames through ${SESSIONS} FrameRecorders into a new SQLite store (in process), with`,
      `# ${writers.map((w) => described[w]).join('; then ')}`,
      '# then, through `bastion serve` in front of PostgreSQL 18 (`pgbench -i -s 1`), once per protocol:',
      ...(['simple', 'prepared'] as const).map(
        (m) =>
          `PGSSLMODE=disable pgbench ${pgbenchArgs(m, clients, seconds).join(' ')} -h 127.0.0.1 -p PORT -U bench appdb`,
      ),
    ];
  },
};

if (isMain(import.meta.url)) await runScenarios('Bastion benchmarks: recorder', [recorder]);
