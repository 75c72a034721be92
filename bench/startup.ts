// Start-up: `bastion serve --config FILE --no-ui` from spawn to its `ready` line (store open,
// listeners up, upstream PostgreSQL running), several times; the first run also creates the
// store and the self-signed certificate, the rest open them. Each run is checked by a login and
// a statement through the gateway (not timed). Target: median under 1 second.
// Knobs: BENCH_STARTUP_RUNS (7). Run on its own: node dist/bench/startup.js

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startPostgres } from '../test/helpers/postgres.js';
import { type BenchRow, bastionCommand, envNumber, freePort, median, startServe } from './common.js';
import { isMain, runScenarios, type Scenario } from './report.js';

const TARGET_MS = 1000;

function knobs() {
  return { runs: Math.round(envNumber('BENCH_STARTUP_RUNS', 7)) };
}

export async function startupScenario(): Promise<BenchRow[]> {
  const { runs } = knobs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-bench-startup-'));
  const db = await startPostgres({ version: 18 });
  try {
    const port = await freePort();
    const identities = [{ name: 'bench', password: 'bench-secret' }];
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const serve = await startServe({ db, dir, identities, port });
      times.push(serve.readyMs);
      try {
        const c = new pg.Client({ ...serve.endpoint('bench'), host: '127.0.0.1', ssl: false });
        c.on('error', () => {});
        await c.connect();
        await c.query('SELECT 1');
        await c.end();
      } catch (e) {
        await serve.stop();
        throw new Error(`bastion serve was "ready" but a login failed: ${(e as Error).message}`);
      }
      const code = await serve.stop();
      if (code !== 0) throw new Error(`bastion serve exited with ${code} on SIGTERM: ${serve.stderr()}`);
      console.error(`bench: start-up run ${i + 1}: ${times.at(-1)!.toFixed(0)} ms`);
    }
    const m = median(times);
    const rest = times.slice(1);
    return [
      {
        scenario: `start-up of bastion serve to "ready" (${runs} runs)`,
        target: `median < ${TARGET_MS} ms`,
        measured:
          `median ${m.toFixed(0)} ms; first run (creates store and certificate) ${times[0].toFixed(0)} ms` +
          (rest.length > 0
            ? `, later runs ${Math.min(...rest).toFixed(0)}-${Math.max(...rest).toFixed(0)} ms`
            : ''),
        ratio: m / TARGET_MS,
        pass: m < TARGET_MS,
      },
    ];
  } finally {
    await db.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const startup: Scenario = {
  name: 'startup',
  run: startupScenario,
  commands: () => [
    `# start-up: ${knobs().runs} times, from spawn to the line "ready" (one connection, one identity, SQLite store, PostgreSQL 18 up)`,
    `${bastionCommand()} serve --config bastion.yaml --no-ui`,
  ],
};

if (isMain(import.meta.url)) await runScenarios('Bastion benchmarks: start-up', [startup]);
