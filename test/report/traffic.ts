// A store built by real traffic for the report, tamper and export tests: PostgreSQL 18, the real
// gateway with two connections and two identities, node-postgres clients. The gateway's store is
// copied (SQLite backup) to a temp dir that outlives the gateway; tests work on copies of it.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openSqliteStore, type SqliteSessionStore } from '../../proxy/store/sqlite-store.js';
import { AGENT, connectionTo, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres } from '../helpers/postgres.js';

export const ANALYST = { name: 'analyst', password: 'analyst-secret' };

/** Long enough that the PDF must wrap it over many lines. */
export const LONG_SQL = `SELECT ${Array.from({ length: 120 }, (_, i) => `${i} AS column_number_${i}`).join(', ')}`;
export const CSV_SQL = `SELECT 'comma, "quote"' AS a,\n       'second line' AS b`;
export const HTML_SQL = `SELECT '<script>alert("x")</script> & <b>bold</b>' AS html`;
export const UNICODE_SQL = `SELECT 'Grüße aus Zürich, naïve café' AS city`;

export interface RecordedTraffic {
  /** A closed copy of the gateway's store (do not modify: copy it with `copyStore`). */
  storePath: string;
  dir: string;
  /** Session ids in the order they were run. */
  sessions: { id: string; identity: string; connection: string }[];
  /** Epoch microseconds between the first two sessions' end and the last session's start. */
  cutoff: number;
  cleanup(): void;
}

async function run(
  gw: TestGateway,
  who: { name: string; password: string; port?: number },
  f: (c: pg.Client) => Promise<void>,
) {
  const t = gw.target({ user: who.name, password: who.password, ...(who.port ? { port: who.port } : {}) });
  const c = new pg.Client({
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database: t.database,
  });
  await c.connect();
  try {
    await f(c);
  } finally {
    await c.end();
  }
}

async function closedSessions(gw: TestGateway, n: number): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    const s = gw.readStore();
    const sessions = s.listSessions();
    s.close();
    if (sessions.length >= n && sessions.every((x) => x.endedAt !== null)) return;
    if (Date.now() > end) throw new Error(`sessions did not close: ${JSON.stringify(sessions)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function recordTraffic(): Promise<RecordedTraffic> {
  const db = await startPostgres({ version: 18 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-report-'));
  let gw: TestGateway | undefined;
  try {
    gw = await startGateway(db, {
      identities: [
        {
          name: AGENT.name,
          password: AGENT.password,
          oidc: null,
          connections: ['app', 'billing'],
          policy: 'default',
        },
        {
          name: ANALYST.name,
          password: ANALYST.password,
          oidc: null,
          connections: ['app'],
          policy: 'default',
        },
      ],
      extraConnections: [connectionTo('billing', db)],
    });
    const g = gw;
    const billingPort = g.core.addresses().find((a) => a.name === 'billing')!.port;

    await run(g, AGENT, async (c) => {
      await c.query('CREATE TABLE customers (id int PRIMARY KEY, name text, email text)');
      await c.query(
        "INSERT INTO customers VALUES (1, 'Ada', 'ada@example.com'), (2, 'Bob', 'bob@example.com'), (3, 'Cy', 'cy@example.com')",
      );
      await c.query('SELECT id, name, email FROM customers ORDER BY id');
      await c.query('SELECT name FROM customers WHERE id = $1', [2]);
      await c.query("UPDATE customers SET name = 'Robert' WHERE id = 2");
      await c.query('SELECT 1/0').catch(() => undefined);
      await c.query(CSV_SQL);
      await c.query(HTML_SQL);
      await c.query(UNICODE_SQL);
      await c.query(LONG_SQL);
    });
    await run(g, ANALYST, async (c) => {
      await c.query('SELECT count(*) FROM customers');
      await c.query('DELETE FROM customers WHERE id = $1', [3]);
      await c.query('SELECT * FROM missing_table').catch(() => undefined);
    });
    await closedSessions(g, 2);
    await new Promise((r) => setTimeout(r, 5));
    const cutoff = Date.now() * 1000;
    await new Promise((r) => setTimeout(r, 5));
    await run(g, { ...AGENT, port: billingPort }, async (c) => {
      await c.query('SELECT 42 AS answer');
      await c.query('SELECT email FROM customers WHERE id = $1', [1]);
    });
    await closedSessions(g, 3);
    g.flush();

    const storePath = path.join(dir, 'traffic.db');
    const src = new Database(g.storePath, { readonly: true });
    await src.backup(storePath);
    src.close();
    const s = openSqliteStore(storePath, { readonly: true });
    const sessions = s
      .listSessions()
      .reverse()
      .map((x) => ({ id: x.id, identity: x.identity, connection: x.connection }));
    s.close();
    return {
      storePath,
      dir,
      sessions,
      cutoff,
      cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  } finally {
    await gw?.stop();
    await db.stop();
  }
}

let n = 0;
/** A fresh writable copy of a store file (WAL folded in by the backup). */
export function copyStore(t: RecordedTraffic, name = 'copy'): string {
  const to = path.join(t.dir, `${name}-${++n}.db`);
  fs.copyFileSync(t.storePath, to);
  return to;
}

export function openCopy(t: RecordedTraffic): { path: string; store: SqliteSessionStore } {
  const p = copyStore(t);
  return { path: p, store: openSqliteStore(p) };
}
