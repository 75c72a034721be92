// A client in a tight `SELECT 1` loop (run as its own process, so its clock is not the gateway's
// event loop): prints `ready` once logged in, then on `stop` (stdin) one JSON line with how many
// round trips it made and the slowest. Connection details come from the environment (PG*).

import readline from 'node:readline';
import pg from 'pg';

const client = new pg.Client(); // PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE
await client.connect();
let stop = false;
readline.createInterface({ input: process.stdin }).on('line', (l) => {
  if (l.trim() === 'stop') stop = true;
});
let count = 0;
let worstMs = 0;
let worstAt = 0;
const started = Date.now();
console.log('ready');
while (!stop) {
  const t = performance.now();
  const r = await client.query('SELECT 1 AS one');
  const ms = performance.now() - t;
  if (r.rows[0].one !== 1) throw new Error(`SELECT 1 answered ${JSON.stringify(r.rows)}`);
  count++;
  if (ms > worstMs) {
    worstMs = ms;
    worstAt = Date.now() - started;
  }
}
await client.end();
console.log(JSON.stringify({ count, worstMs, worstAtMs: worstAt }));
process.exit(0); // stdin stays open
