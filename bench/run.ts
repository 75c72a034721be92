// `npm run bench`: pgbench against direct PostgreSQL, pgbouncer (session mode) and Bastion
// (recording on), measured in one run, interleaved, several rounds; prints TPS, latency and
// ratios. Knobs: BENCH_SECONDS (default 10), BENCH_ROUNDS (default 3), BENCH_CLIENTS ("4,16").

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pgbenchPath, repoRoot, run } from '../test/helpers/clients.js';
import { startPostgres, type TestPostgres } from '../test/helpers/postgres.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENTS = (process.env.BENCH_CLIENTS ?? '4,16').split(',').map(Number);
const MODES = ['simple', 'prepared'] as const;

interface Target {
  name: string;
  port: number;
  user: string;
  password: string;
}

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as import('node:net').AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function waitForLine(child: ChildProcess, line: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`no "${line}" within ${ms} ms`)), ms);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.split('\n').includes(line)) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before "${line}"`)));
  });
}

async function startPgbouncer(db: TestPostgres, dir: string): Promise<{ target: Target; stop: () => void }> {
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'userlist.txt'), `"${db.user}" "${db.password}"\n`);
  fs.writeFileSync(
    path.join(dir, 'pgbouncer.ini'),
    `[databases]\n${db.database} = host=127.0.0.1 port=${db.port} dbname=${db.database}\n` +
      `[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${port}\nunix_socket_dir =\nauth_type = scram-sha-256\n` +
      `auth_file = ${dir}/userlist.txt\npool_mode = session\nmax_client_conn = 2000\ndefault_pool_size = 100\n` +
      `logfile = ${dir}/pgbouncer.log\npidfile = ${dir}/pgbouncer.pid\n`,
  );
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o666);
  const asRoot = process.getuid?.() === 0;
  const child = asRoot
    ? spawn('runuser', ['-u', 'postgres', '--', 'pgbouncer', path.join(dir, 'pgbouncer.ini')], {
        stdio: 'ignore',
      })
    : spawn('pgbouncer', [path.join(dir, 'pgbouncer.ini')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const r = spawnSync('pg_isready', ['-h', '127.0.0.1', '-p', String(port)]);
    if (r.status === 0) break;
    await new Promise((r2) => setTimeout(r2, 100));
  }
  return {
    target: { name: 'pgbouncer', port, user: db.user, password: db.password },
    stop: () => child.kill('SIGTERM'),
  };
}

async function startBastion(
  db: TestPostgres,
  dir: string,
): Promise<{ target: Target; stop: () => Promise<void> }> {
  const port = await freePort();
  const config = path.join(dir, 'bastion.yaml');
  fs.writeFileSync(
    config,
    `store: ${dir}/bench.db\nconnections:\n  - name: app\n    listen: 127.0.0.1:${port}\n` +
      `    upstream: postgres://${db.user}:${db.password}@127.0.0.1:${db.port}/${db.database}?sslmode=disable\n` +
      `identities:\n  - name: bench\n    password: bench-secret\n    connections: [app]\n`,
  );
  const child = spawn(
    process.execPath,
    [path.join(repoRoot(), 'bin/bastion.js'), 'serve', '--config', config, '--no-ui'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await waitForLine(child, 'ready', 15_000);
  return {
    target: { name: 'bastion', port, user: 'bench', password: 'bench-secret' },
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

interface Sample {
  tps: number;
  latencyMs: number;
}

async function pgbench(t: Target, db: TestPostgres, mode: string, clients: number): Promise<Sample> {
  const r = await run(
    pgbenchPath(),
    [
      '-S',
      '-M',
      mode,
      '-c',
      String(clients),
      '-j',
      '2',
      '-T',
      String(SECONDS),
      '-n',
      '-h',
      '127.0.0.1',
      '-p',
      String(t.port),
      '-U',
      t.user,
      db.database,
    ],
    {
      env: { ...process.env, PGPASSWORD: t.password, PGSSLMODE: 'disable' },
      timeoutMs: (SECONDS + 60) * 1000,
    },
  );
  const tps = /tps = ([\d.]+)/.exec(r.stdout);
  const lat = /latency average = ([\d.]+) ms/.exec(r.stdout);
  if (r.code !== 0 || !tps || !lat) throw new Error(`pgbench via ${t.name} failed: ${r.stderr || r.stdout}`);
  return { tps: Number(tps[1]), latencyMs: Number(lat[1]) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-bench-'));
  fs.chmodSync(dir, 0o777);
  const db = await startPostgres({ version: 18 });
  const init = await run(
    pgbenchPath(),
    ['-i', '-s', '10', '-q', '-h', '127.0.0.1', '-p', String(db.port), '-U', db.user, db.database],
    {
      env: { ...process.env, PGPASSWORD: db.password },
    },
  );
  if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
  const bouncer = await startPgbouncer(db, dir);
  const bastion = await startBastion(db, dir);
  const direct: Target = { name: 'direct', port: db.port, user: db.user, password: db.password };
  const targets = [direct, bouncer.target, bastion.target];
  const rows: string[] = [];
  try {
    for (const mode of MODES) {
      for (const clients of CLIENTS) {
        const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
        for (let round = 0; round < ROUNDS; round++) {
          for (const t of targets) samples.get(t.name)!.push(await pgbench(t, db, mode, clients));
        }
        const tps = (n: string) => median(samples.get(n)!.map((s) => s.tps));
        const lat = (n: string) => median(samples.get(n)!.map((s) => s.latencyMs));
        rows.push(
          [
            `-S -M ${mode} -c ${clients}`.padEnd(24),
            ...targets.map(
              (t) => `${t.name} ${tps(t.name).toFixed(0).padStart(6)} tps ${lat(t.name).toFixed(3)} ms`,
            ),
            `bastion/pgbouncer TPS ${(tps('bastion') / tps('pgbouncer')).toFixed(2)}x`,
            `added latency: bastion ${(lat('bastion') - lat('direct')).toFixed(3)} ms, pgbouncer ${(lat('pgbouncer') - lat('direct')).toFixed(3)} ms`,
          ].join(' | '),
        );
        console.log(rows[rows.length - 1]);
      }
    }
  } finally {
    await bastion.stop();
    bouncer.stop();
    await db.stop();
  }
  console.log(
    `\npgbench ${SECONDS}s x ${ROUNDS} rounds (medians), ${os.cpus().length} cores, recording on\n${rows.join('\n')}`,
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exitCode = 1;
});
