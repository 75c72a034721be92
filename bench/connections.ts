// Many concurrent client connections held open through `bastion serve`: each authenticates
// (SCRAM), runs one statement and stays idle in its session. Gateway memory per connection =
// (VmRSS with all open - VmRSS idle) / count, target under 100 KB. Upstream PostgreSQL gets its
// own instance with room for every session (max_connections = count + 100).
// Knobs: BENCH_CONNECTIONS (1000). Run on its own: node dist/bench/connections.js

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startPostgres } from '../test/helpers/postgres.js';
import {
  type BenchRow,
  type Endpoint,
  envNumber,
  fmtInt,
  fmtMb,
  sleep,
  startServe,
  statusKb,
} from './common.js';
import { isMain, runScenarios, type Scenario } from './report.js';

const TARGET_KB = 100;
/** Connections being opened at once (SCRAM on both sides costs CPU: a burst of 1000 would only queue). */
const OPENING_AT_ONCE = 20;
/** Time for the gateway's memory to settle before it is read. */
const SETTLE_MS = 3000;

function knobs() {
  return { connections: Math.round(envNumber('BENCH_CONNECTIONS', 1000)) };
}

async function openClient(t: Endpoint, n: number): Promise<pg.Client> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port: t.port,
    user: t.user,
    password: t.password,
    database: t.database,
    ssl: false,
    application_name: `bench-conn-${n}`,
  });
  c.on('error', () => {});
  await c.connect();
  const r = await c.query('SELECT 1 AS one');
  if (r.rows[0]?.one !== 1) throw new Error(`connection ${n}: SELECT 1 returned ${JSON.stringify(r.rows)}`);
  return c;
}

/** Opens `count` connections, `OPENING_AT_ONCE` at a time. */
async function openMany(t: Endpoint, count: number, from: number): Promise<pg.Client[]> {
  const clients: pg.Client[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const n = from + next++;
      clients.push(await openClient(t, n));
    }
  };
  await Promise.all(Array.from({ length: Math.min(OPENING_AT_ONCE, count) }, worker));
  return clients;
}

export async function connectionsScenario(): Promise<BenchRow[]> {
  const { connections } = knobs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-bench-connections-'));
  const db = await startPostgres({ version: 18, settings: { max_connections: connections + 100 } });
  let serve: Awaited<ReturnType<typeof startServe>> | null = null;
  const clients: pg.Client[] = [];
  try {
    serve = await startServe({ db, dir, identities: [{ name: 'bench', password: 'bench-secret' }] });
    const t = serve.endpoint('bench');
    // Warm up: whatever the first sessions set up once (parser, caches, catalog) belongs to "idle".
    for (const c of await openMany(t, 10, 0)) await c.end();
    await sleep(SETTLE_MS);
    const idleKb = statusKb(serve.pid, 'VmRSS');
    clients.push(...(await openMany(t, connections, 10)));
    await sleep(SETTLE_MS);
    const openKb = statusKb(serve.pid, 'VmRSS');
    // Every one of them is still a working session.
    await Promise.all(clients.map((c) => c.query('SELECT 1')));
    const perConnKb = (openKb - idleKb) / connections;
    return [
      {
        scenario: `${fmtInt(connections)} concurrent client connections held open through Bastion`,
        target: `< ${TARGET_KB} KB of gateway memory each`,
        measured: `${perConnKb.toFixed(1)} KB each (RSS ${fmtMb(idleKb)} idle, ${fmtMb(openKb)} with ${fmtInt(connections)} open)`,
        ratio: perConnKb / TARGET_KB,
        pass: perConnKb < TARGET_KB,
      },
    ];
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    await serve?.stop();
    await db.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const connections: Scenario = {
  name: 'connections',
  run: connectionsScenario,
  commands: () => {
    const { connections: n } = knobs();
    return [
      `# connections: PostgreSQL 18 with max_connections=${n + 100}; \`bastion serve --config FILE --no-ui\`;`,
      `# 10 warm-up sessions opened and closed, VmRSS read; then ${fmtInt(n)} node-postgres clients (${OPENING_AT_ONCE} connecting at a time),`,
      `# each SELECT 1 then idle; VmRSS read ${SETTLE_MS / 1000} s later; per connection = difference / ${fmtInt(n)}`,
    ];
  },
};

if (isMain(import.meta.url)) await runScenarios('Bastion benchmarks: connections', [connections]);
