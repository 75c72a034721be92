// `npm run soak` (node dist/bench/soak.js): many clients at once through a real `bastion serve`
// for a sustained period, with recording, the default guardrails and masking on. Each client loops
// over a mix (a SELECT of PII the policy masks, an INSERT, a DROP the guardrails block) with a
// think time between statements, like an agent. The gateway's RSS is sampled every second.
// Exits 1 on any unexpected error (a refused login, a failed statement, an unmasked value, a block
// that did not happen), on RSS growth past the bound, or if the store does not verify.
// Knobs: SOAK_CLIENTS (500), SOAK_SECONDS (60), SOAK_THINK_MS (mean pause between statements, 1000).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startPostgres } from '../test/helpers/postgres.js';
import { cli, mb, rssKb, startServe, writeServeConfig } from '../test/reliability/serve-process.js';

export interface SoakOptions {
  clients: number;
  seconds: number;
  thinkMs: number;
  log?: (line: string) => void;
}

export interface SoakReport {
  clients: number;
  seconds: number;
  statements: { select: number; insert: number; blocked: number };
  /** Anything a client did not expect, with a count per kind (first message kept). */
  errors: Map<string, { count: number; example: string }>;
  /** Gateway VmRSS samples, kB, one a second. */
  rss: number[];
  /** Median RSS of the second quarter of the run (warmed up) and of the last quarter, kB. */
  rssStartKb: number;
  rssEndKb: number;
  /** The growth the run may show: max(48 MiB, 15% of the start). */
  rssBoundKb: number;
  storeVerified: boolean;
  ok: boolean;
}

const IDENTITY = { name: 'soak-agent', password: 'soak-agent-secret-7f3a' };
const CUSTOMERS = 200;
const email = (i: number) => `customer${i}@example.com`;

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)];
};

export async function soak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => {});
  const db = await startPostgres({ version: 18 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-soak-'));
  const errors = new Map<string, { count: number; example: string }>();
  const unexpected = (kind: string, example: string) => {
    const e = errors.get(kind) ?? { count: 0, example };
    e.count++;
    errors.set(kind, e);
  };
  const statements = { select: 0, insert: 0, blocked: 0 };
  const rss: number[] = [];
  let gateway: Awaited<ReturnType<typeof startServe>> | null = null;
  try {
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    // One backend per gateway session, plus the gateway's own catalog link and some room.
    await admin.query(`ALTER SYSTEM SET max_connections = ${o.clients + 50}`);
    await admin.query('CREATE TABLE customers (id int PRIMARY KEY, email text, ssn text, note text)');
    await admin.query(
      `INSERT INTO customers SELECT g, 'customer' || g || '@example.com', '078-05-' || lpad(g::text, 4, '0'), 'plain note ' || g
       FROM generate_series(1, ${CUSTOMERS}) g`,
    );
    await admin.query('CREATE TABLE events (client int, n int, at timestamptz DEFAULT now())');
    await admin.end();
    await db.restart();

    const store = path.join(dir, 'bastion.db');
    const config = writeServeConfig(path.join(dir, 'bastion.yaml'), { db, store, identities: [IDENTITY] });
    gateway = await startServe(config.file, config.env);
    const gw = gateway;
    log(`gateway pid ${gw.pid} on port ${gw.port}; opening ${o.clients} clients`);

    const clients: pg.Client[] = [];
    // Logins in waves, as a fleet of agents would start: all are open before the clock starts.
    for (let i = 0; i < o.clients; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, o.clients - i) }, async (_, k) => {
          const c = new pg.Client({
            host: '127.0.0.1',
            port: gw.port,
            user: IDENTITY.name,
            password: IDENTITY.password,
            database: 'appdb',
            application_name: `soak-${i + k}`,
          });
          c.on('error', (e) => unexpected('connection error', e.message));
          try {
            await c.connect();
            clients.push(c);
          } catch (e) {
            unexpected('login refused', (e as Error).message);
          }
        }),
      );
    }
    log(`${clients.length} clients connected; RSS ${mb(rssKb(gw.pid))} MB; running ${o.seconds} s`);

    const sampler = setInterval(() => {
      try {
        rss.push(rssKb(gw.pid));
      } catch {}
    }, 1000);
    const deadline = Date.now() + o.seconds * 1000;
    const pause = () => new Promise((r) => setTimeout(r, Math.random() * 2 * o.thinkMs));
    const loop = async (c: pg.Client, i: number) => {
      // Start spread over one think time, so that the load is steady from the first second.
      await pause();
      for (let n = 1; Date.now() < deadline; n++) {
        const pick = Math.random();
        try {
          if (pick < 0.6) {
            const id = 1 + Math.floor(Math.random() * CUSTOMERS);
            const r = await c.query('SELECT id, email, ssn, note FROM customers WHERE id = $1', [id]);
            statements.select++;
            const row = r.rows[0];
            if (!row || row.id !== id) unexpected('wrong row', JSON.stringify(row));
            else if (row.email === email(id) || /^078-05-\d{4}$/.test(row.ssn))
              unexpected('unmasked PII', JSON.stringify(row));
            else if (row.note !== `plain note ${id}`)
              unexpected('non-PII value changed', JSON.stringify(row));
          } else if (pick < 0.9) {
            await c.query(`INSERT INTO events (client, n) VALUES (${i}, ${n})`);
            statements.insert++;
          } else {
            try {
              await c.query('DROP TABLE customers');
              unexpected('DROP not blocked', 'DROP TABLE customers ran');
            } catch (e) {
              if ((e as { code?: string }).code === '42501') statements.blocked++;
              else unexpected(`blocked statement: ${(e as { code?: string }).code}`, (e as Error).message);
            }
          }
        } catch (e) {
          unexpected(`statement error ${(e as { code?: string }).code ?? ''}`.trim(), (e as Error).message);
        }
        await pause();
      }
    };
    await Promise.all(clients.map((c, i) => loop(c, i)));
    clearInterval(sampler);
    await Promise.all(clients.map((c) => c.end().catch(() => {})));

    const stopped = await gw.stop('SIGTERM');
    if (stopped.code !== 0)
      unexpected('gateway stop', `exit ${stopped.code ?? stopped.signal}: ${gw.stderr().slice(-500)}`);
    gateway = null;
    const v = await cli(['verify', '--store', store], dir);
    const storeVerified = v.code === 0;
    if (!storeVerified) unexpected('store verify', `${v.stdout}${v.stderr}`.trim());

    const q = Math.max(1, Math.floor(rss.length / 4));
    const rssStartKb = median(rss.slice(q, 2 * q));
    const rssEndKb = median(rss.slice(-q));
    const rssBoundKb = Math.max(48 * 1024, rssStartKb * 0.15);
    const ok = errors.size === 0 && rss.length > 0 && rssEndKb - rssStartKb <= rssBoundKb && storeVerified;
    return {
      clients: clients.length,
      seconds: o.seconds,
      statements,
      errors,
      rss,
      rssStartKb,
      rssEndKb,
      rssBoundKb,
      storeVerified,
      ok,
    };
  } finally {
    await gateway?.stop('SIGKILL');
    await db.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatReport(r: SoakReport): string {
  const total = r.statements.select + r.statements.insert + r.statements.blocked;
  const rows: [string, string][] = [
    ['clients', String(r.clients)],
    ['duration', `${r.seconds} s`],
    [
      'statements',
      `${total} (${(total / r.seconds).toFixed(0)}/s): ${r.statements.select} masked SELECTs, ${r.statements.insert} INSERTs, ${r.statements.blocked} blocked DROPs`,
    ],
    [
      'unexpected errors',
      r.errors.size === 0
        ? '0'
        : [...r.errors].map(([k, v]) => `${k} x${v.count} (${v.example.slice(0, 120)})`).join('; '),
    ],
    [
      'gateway RSS',
      `start ${mb(r.rssStartKb)} MB, end ${mb(r.rssEndKb)} MB, peak ${mb(Math.max(0, ...r.rss))} MB (${r.rss.length} samples)`,
    ],
    ['RSS growth', `${mb(r.rssEndKb - r.rssStartKb)} MB, bound ${mb(r.rssBoundKb)} MB`],
    ['store verifies', r.storeVerified ? 'yes' : 'NO'],
    ['result', r.ok ? 'PASS' : 'FAIL'],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = {
    clients: envNumber('SOAK_CLIENTS', 500),
    seconds: envNumber('SOAK_SECONDS', 60),
    thinkMs: envNumber('SOAK_THINK_MS', 1000),
    log: (l: string) => console.error(`soak: ${l}`),
  };
  soak(opts).then(
    (r) => {
      console.log(formatReport(r));
      process.exitCode = r.ok ? 0 : 1;
    },
    (e) => {
      console.error(`soak: ${(e as Error).stack ?? e}`);
      process.exitCode = 1;
    },
  );
}
