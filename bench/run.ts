// `npm run bench`: every performance target of issue 9 in one run, one scenario after another
// (pgbench, large result, recorder, connections, start-up), then one table of every target with
// its figure and PASS/FAIL; BENCH_WRITE=1 also writes it to BENCHMARKS.md.
// Knobs: BENCH_ONLY=pgbench,large,recorder,connections,startup (default all), and each
// scenario's own: BENCH_SECONDS, BENCH_ROUNDS, BENCH_CLIENTS, BENCH_ROWS, BENCH_FRAMES,
// BENCH_CONNECTIONS, BENCH_STARTUP_RUNS, BENCH_WRITERS (see the scenario files); BENCH_BASTION=FILE
// runs another build's `bastion` (e.g. /elsewhere/dist/cli/main.js) instead of this one's.

import { envList } from './common.js';
import { connections } from './connections.js';
import { largeResult } from './large-result.js';
import { pgbench } from './pgbench.js';
import { recorder } from './recorder.js';
import { runScenarios, type Scenario } from './report.js';
import { startup } from './startup.js';

const ALL: Scenario[] = [pgbench, largeResult, recorder, connections, startup];

function selected(): Scenario[] {
  const names = envList('BENCH_ONLY', ALL.map((s) => s.name).join(','));
  const unknown = names.filter((n) => !ALL.some((s) => s.name === n));
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_ONLY: unknown scenario "${unknown[0]}" (known: ${ALL.map((s) => s.name).join(', ')})`,
    );
  }
  return ALL.filter((s) => names.includes(s.name));
}

let scenarios: Scenario[];
try {
  scenarios = selected();
} catch (e) {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(2);
}
await runScenarios('Bastion benchmarks', scenarios);
