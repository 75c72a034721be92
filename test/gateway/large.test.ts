// A 1,000,000-row result (~110 MB on the wire) through the real `bastion serve` process, with psql
// and node-postgres. The gateway runs as its own process so that its memory can be measured: it
// must stream (respecting backpressure) rather than buffer the result, so its peak RSS stays far
// below the result's size. Then it must stop cleanly on SIGTERM and the CLI must show and verify
// what it recorded. Runs bin/bastion.js, i.e. the build in dist/ (`npm test` builds it first).

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { SessionInfo, StatementRecord } from '../../shared/types.js';
import { type ClientTarget, repoRoot, run, runPsql } from '../helpers/clients.js';
import { freePort, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { rssKb } from '../helpers/proc.js';

const ROWS = 1_000_000;
const SQL = `SELECT g, repeat('x', 90) FROM generate_series(1, ${ROWS}) g`;
/** The bound is about not buffering the result (~110 MB): a buffering gateway would pass it. */
const RSS_LIMIT_MB = 250;

const IDENTITY = { name: 'agent', password: 'large-agent-secret' };
const BIN = path.join(repoRoot(), 'bin', 'bastion.js');

let db: TestPostgres;
let dir: string;
let storePath: string;
let gateway: ChildProcess | null = null;
let gatewayExit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
let gatewayStderr = '';
let target: ClientTarget;

/** Samples the gateway's VmRSS every 10 ms until stopped; returns the peak seen, in MB. */
function sampleRss(pid: number): { stop(): { peakMb: number; samples: number } } {
  let peak = 0;
  let samples = 0;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssKb(pid, 'VmRSS'));
      samples++;
    } catch {}
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return { peakMb: peak / 1024, samples };
    },
  };
}

const mb = (kb: number) => (kb / 1024).toFixed(1);

let startupMs = 0;

before(async () => {
  const t0 = Date.now();
  assert.ok(
    fs.existsSync(path.join(repoRoot(), 'dist', 'cli', 'main.js')),
    'bin/bastion.js needs the build in dist/: run `npm run build` (npm test does)',
  );
  db = await startPostgres({ version: 18 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-large-'));
  storePath = path.join(dir, 'bastion.db');
  const port = await freePort();
  const config = path.join(dir, 'bastion.yaml');
  fs.writeFileSync(
    config,
    [
      'store: ./bastion.db',
      'connections:',
      '  - name: app',
      `    listen: 127.0.0.1:${port}`,
      `    upstream: postgres://${encodeURIComponent(db.user)}:\${UPSTREAM_PASSWORD}@127.0.0.1:${db.port}/${db.database}?sslmode=disable`,
      'identities:',
      `  - name: ${IDENTITY.name}`,
      `    password: \${AGENT_SECRET}`,
      '    connections: [app]',
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [BIN, 'serve', '--config', config, '--no-ui'], {
    cwd: dir,
    env: { ...process.env, UPSTREAM_PASSWORD: db.password, AGENT_SECRET: IDENTITY.password },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  gateway = child;
  gatewayExit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    gatewayStderr += d;
  });
  let stdout = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "ready" after 30 s; stderr:\n${gatewayStderr}`)),
      30_000,
    );
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (/^ready$/m.test(stdout)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bastion serve exited with ${code} before "ready"; stderr:\n${gatewayStderr}`));
    });
  });
  startupMs = Date.now() - t0;
  target = {
    host: '127.0.0.1',
    port,
    user: IDENTITY.name,
    password: IDENTITY.password,
    database: 'appdb',
    sslmode: 'disable',
  };
});

after(async () => {
  if (gateway && gateway.exitCode === null && gateway.signalCode === null) {
    gateway.kill('SIGKILL');
    await gatewayExit;
  }
  await db?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('`bastion serve` runs with its memory settings: single-threaded GC and malloc tuning, same PID', {
  skip: process.platform !== 'linux' && 'reads /proc',
}, () => {
  const pid = gateway!.pid!;
  const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  assert.ok(argv.includes('--single-threaded-gc'), argv.join(' '));
  // The environment the process was executed with (the gateway removes both from its own
  // process.env at start, so that programs it starts do not inherit them).
  const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  const tunables = env.find((e) => e.startsWith('GLIBC_TUNABLES='));
  assert.match(tunables ?? '', /glibc\.malloc\.arena_max=2/);
  assert.ok(env.some((e) => e.startsWith('BASTION_EXEC_TUNED=')));
});

test('1,000,000 rows through `bastion serve` with psql and node-postgres, in bounded memory', {
  timeout: 120_000,
}, async (t) => {
  const pid = gateway!.pid!;
  const baseline = rssKb(pid, 'VmRSS');

  // psql fetches the whole result (no FETCH_COUNT) and prints it to /dev/null; \echo goes to stdout.
  const psqlArgs = ['-c', SQL, '-c', '\\echo rows :ROW_COUNT', '-o', '/dev/null'];
  let started = Date.now();
  const directPsql = await runPsql(psqlArgs, { ...db, timeoutMs: 60_000 });
  const directMs = Date.now() - started;
  assert.equal(directPsql.code, 0, directPsql.stderr);

  let sampler = sampleRss(pid);
  started = Date.now();
  const viaPsql = await runPsql(psqlArgs, { ...target, timeoutMs: 60_000 });
  const psqlMs = Date.now() - started;
  const psqlRss = sampler.stop();
  assert.equal(viaPsql.code, 0, viaPsql.stderr);
  assert.equal(viaPsql.stdout.trim(), `rows ${ROWS}`);

  // node-postgres, counting rows as they come (a 'row' listener stops it from keeping them). After
  // 100,000 rows it stops reading for PAUSE_MS, as a slow consumer would: a gateway that ignored
  // backpressure would take the rest of the result (~100 MB) into its memory meanwhile.
  const PAUSE_MS = 1500;
  sampler = sampleRss(pid);
  started = Date.now();
  const client = new pg.Client({ ...target, application_name: 'large-node-postgres' });
  await client.connect();
  const socket = (client as unknown as { connection: { stream: net.Socket } }).connection.stream;
  let count = 0;
  let last: unknown[] = [];
  let bytes = 0;
  let paused: { atKb: number; sampler: ReturnType<typeof sampleRss> } | null = null;
  let pausedGrowthMb = Number.NaN;
  await new Promise<void>((resolve, reject) => {
    const q = new pg.Query({ text: SQL, rowMode: 'array' } as pg.QueryConfig);
    q.on('row', (row: unknown[]) => {
      count++;
      last = row;
      bytes += (row[1] as string).length;
      if (count === 100_000) {
        socket.pause();
        paused = { atKb: rssKb(pid, 'VmRSS'), sampler: sampleRss(pid) };
        setTimeout(() => {
          const p = paused!;
          pausedGrowthMb = p.sampler.stop().peakMb - p.atKb / 1024;
          socket.resume();
        }, PAUSE_MS);
      }
    });
    q.on('end', () => resolve());
    q.on('error', reject);
    client.query(q);
  });
  await client.end();
  const pgMs = Date.now() - started;
  const pgRss = sampler.stop();
  assert.equal(count, ROWS);
  assert.deepEqual(last, [ROWS, 'x'.repeat(90)]);
  assert.equal(bytes, ROWS * 90);

  const hwm = rssKb(pid, 'VmHWM');
  t.diagnostic(
    `gateway RSS: ${mb(baseline)} MB at start; peak sampled ${psqlRss.peakMb.toFixed(1)} MB during psql (${psqlRss.samples} samples), ${pgRss.peakMb.toFixed(1)} MB during node-postgres (${pgRss.samples} samples); VmHWM ${mb(hwm)} MB`,
  );
  t.diagnostic(
    `gateway RSS grew ${pausedGrowthMb.toFixed(1)} MB while node-postgres stopped reading for ${PAUSE_MS} ms`,
  );
  t.diagnostic(`PostgreSQL and \`bastion serve\` up in ${startupMs} ms`);
  t.diagnostic(
    `psql: ${psqlMs} ms through the gateway, ${directMs} ms direct; node-postgres: ${pgMs} ms through the gateway (${PAUSE_MS} ms of it paused)`,
  );
  assert.ok(psqlRss.samples > 10 && pgRss.samples > 10, 'RSS was sampled during both queries');
  assert.ok(psqlRss.peakMb < RSS_LIMIT_MB, `peak RSS during psql ${psqlRss.peakMb.toFixed(1)} MB`);
  assert.ok(pgRss.peakMb < RSS_LIMIT_MB, `peak RSS during node-postgres ${pgRss.peakMb.toFixed(1)} MB`);
  assert.ok(pausedGrowthMb < 40, `RSS grew ${pausedGrowthMb.toFixed(1)} MB while the client did not read`);
  assert.ok(hwm / 1024 < RSS_LIMIT_MB, `the gateway's RSS high-water mark ${mb(hwm)} MB`);

  // A clean stop on SIGTERM, flushing every recording, also with a client still connected (idle
  // inside a transaction): it is told the gateway is stopping (57P01) rather than kept waiting.
  const idle = new pg.Client({ ...target, application_name: 'large-idle' });
  const idleError = new Promise<string | undefined>((resolve) =>
    idle.on('error', (e: Error & { code?: string }) => resolve(e.code)),
  );
  await idle.connect();
  await idle.query('BEGIN');
  await idle.query('SELECT 1');
  started = Date.now();
  gateway!.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([
    gatewayExit,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no exit 15 s after SIGTERM; stderr:\n${gatewayStderr}`)),
        15_000,
      );
    }),
  ]).finally(() => clearTimeout(timer));
  t.diagnostic(`stopped ${Date.now() - started} ms after SIGTERM`);
  assert.deepEqual(exit, { code: 0, signal: null }, gatewayStderr);
  assert.equal(await idleError, '57P01');
  await idle.end().catch(() => {});

  // The CLI sees every session, ended, and the big statement counted in full.
  const cli = (...args: string[]) => run(process.execPath, [BIN, ...args], { cwd: dir, timeoutMs: 60_000 });
  const list = await cli('sessions', 'list', '--store', storePath, '--json');
  assert.equal(list.code, 0, list.stderr);
  const sessions = JSON.parse(list.stdout) as SessionInfo[];
  assert.equal(sessions.length, 3, list.stdout);
  assert.ok(sessions.every((s) => s.identity === IDENTITY.name && s.connection === 'app'));
  const stopped = sessions.find((s) => s.applicationName === 'large-idle');
  assert.equal(stopped?.endReason, 'gateway stopped');
  assert.equal(stopped?.statements, 2);
  const ours = sessions.filter((s) => s !== stopped);
  for (const s of ours) {
    assert.notEqual(s.endedAt, null, `session ${s.id} ended`);
    assert.match(s.endReason ?? '', /client terminated|client disconnected/);
    assert.equal(s.statements, 1);
    const show = await cli('sessions', 'show', s.id, '--store', storePath, '--json');
    assert.equal(show.code, 0, show.stderr);
    const { statements } = JSON.parse(show.stdout) as { statements: StatementRecord[] };
    const st = statements.find((x) => x.sql === SQL);
    assert.ok(st, `the statement is recorded in ${s.id}`);
    assert.equal(st.rows, ROWS);
    assert.equal(st.tag, `SELECT ${ROWS}`);
    assert.equal(st.errorCode, null);
    // The default capture limit (64 MiB) is less than the result: the rest is counted and digested.
    assert.equal(st.truncated, true);
    assert.ok(st.uncapturedRows > 0 && st.uncapturedRows < ROWS);
    assert.match(st.uncapturedDigest ?? '', /^[0-9a-f]{64}$/);
  }
  assert.ok(ours.some((s) => s.applicationName === 'large-node-postgres'));
  const verify = await cli('verify', '--store', storePath);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /^ok: \d+ records intact/);
  t.diagnostic(`store ${(fs.statSync(storePath).size / 1024 / 1024).toFixed(1)} MB; ${verify.stdout.trim()}`);
});
