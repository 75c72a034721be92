// The adversarial harness's environment: a real PostgreSQL (18 or 15) with the canary schema,
// markers planted in a server file and in the server's own configuration files, a victim backend,
// and `bastion serve` as a child process with two connections (superuser upstream `su`, ordinary
// login role `nsu`) and three identities (default policy, read_only, upstream_role-locked).
// Held statements are denied by a decider polling the serve's control socket, unless a case
// says otherwise.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { controlCall, controlSocketPath } from '../../../cli/control.js';
import type { Approval } from '../../../shared/api.js';
import type { ApiMethod } from '../../../shared/rpc.js';
import { type RunningBastion, startBastion, tempDir } from '../../helpers/cli.js';
import { type PgVersion, startPostgres, type TestPostgres } from '../../helpers/postgres.js';
import { type Baseline, baseline, type Snapshot, type StateOptions, schemaSql, snapshot } from './state.js';
import type { Conn, Identity } from './types.js';

export const APP_USER = 'adv_app';
export const LOCKED_ROLE = 'adv_reader';
export const IDENTITIES: Identity[] = ['dflt', 'ro', 'locked'];
export const passwordOf = (i: Identity) => `${i}-secret-pw`;

/** Letters only, so that no masking detector takes it for a key, a card or a phone number. */
function marker(): string {
  const abc = 'abcdefghijklmnopqrstuvwxyz';
  return `advmark${[...randomBytes(16)].map((b) => abc[b % 26]).join('')}`;
}

export type Decider = (a: Approval, nth: number) => 'approve' | 'deny';
const denyAll: Decider = () => 'deny';

export interface Env {
  version: PgVersion;
  server: TestPostgres;
  /** The harness's own superuser connection (appdb). */
  db: pg.Client;
  state: StateOptions;
  base: Baseline;
  /** The state after the last case (or reset). */
  current: Snapshot;
  markerFile: string;
  /** Strings the client must never receive: the marker file's content, markers in pg_hba.conf,
   * pg_ident.conf and postgresql.conf. */
  markers: string[];
  ports: Map<Conn, number>;
  serve: RunningBastion;
  api(method: string, params: unknown[]): Promise<unknown>;
  setDecider(d: Decider | null): void;
  fill(sql: string): string;
  reconnectVictim(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEnv(version: PgVersion): Promise<Env> {
  const server = await startPostgres({ version });
  const undo: (() => Promise<unknown>)[] = [() => server.stop()];
  try {
    return await setUp(version, server, undo);
  } catch (e) {
    // A half-built environment must not keep the test process alive (open clients, the server).
    for (const u of undo.reverse()) await u().catch(() => {});
    throw e;
  }
}

async function setUp(
  version: PgVersion,
  server: TestPostgres,
  undo: (() => Promise<unknown>)[],
): Promise<Env> {
  const tmp = tempDir('bastion-adv-');
  undo.push(async () => tmp.remove());
  fs.chmodSync(tmp.dir, 0o755);
  const outDir = path.join(os.tmpdir(), `bastion-adv-out-${randomBytes(6).toString('hex')}`);
  fs.mkdirSync(outDir, { mode: 0o777 });
  fs.chmodSync(outDir, 0o777);
  undo.push(async () => fs.rmSync(outDir, { recursive: true, force: true }));
  const markers = [marker(), marker(), marker(), marker()];
  const markerFile = path.join(tmp.dir, 'marker.txt');
  fs.writeFileSync(markerFile, `${markers[0]}\n`, { mode: 0o644 });
  // Markers in the server's own configuration files: reading them through pg_hba_file_rules,
  // pg_ident_file_mappings, pg_file_settings or pg_read_file must not reach the client.
  const dataDir = path.join(path.dirname(server.logFile), 'data');
  fs.appendFileSync(path.join(dataDir, 'pg_hba.conf'), `host all ${markers[1]} 10.255.255.1/32 reject\n`);
  fs.appendFileSync(path.join(dataDir, 'pg_ident.conf'), `advmap ${markers[2]} ${LOCKED_ROLE}\n`);
  fs.appendFileSync(path.join(dataDir, 'postgresql.conf'), `cluster_name = '${markers[3]}'\n`);

  const db = new pg.Client({ connectionString: server.url });
  undo.push(() => db.end());
  await db.connect();
  const appPassword = `app-${randomBytes(8).toString('hex')}`;
  await db.query(`CREATE ROLE ${APP_USER} LOGIN PASSWORD '${appPassword}';
    CREATE ROLE ${LOCKED_ROLE} NOLOGIN;
    GRANT ${LOCKED_ROLE} TO ${APP_USER};
    ${schemaSql(APP_USER)}`);
  let victim = await connectVictim(server);
  let victimPid = await pidOf(victim);
  undo.push(() => victim.end());
  const state: StateOptions = { dataDir, outDir };
  const base = await baseline(db, state);

  const config = path.join(tmp.dir, 'bastion.yaml');
  const up = (user: string, pw: string) =>
    `postgres://${user}:\${${pw}}@127.0.0.1:${server.port}/${server.database}?sslmode=disable`;
  const identity = (name: Identity, extra: string) =>
    `  - name: ${name}\n    password: ${passwordOf(name)}\n    connections: [su, nsu]\n${extra}`;
  fs.writeFileSync(
    config,
    `store: ./audit.db
connections:
  - name: su
    listen: 127.0.0.1:0
    upstream: ${up(server.user, 'SU_PW')}
  - name: nsu
    listen: 127.0.0.1:0
    upstream: ${up(APP_USER, 'APP_PW')}
identities:
${identity('dflt', '')}${identity('ro', '    policy: readonly\n')}${identity('locked', `    upstream_role: ${LOCKED_ROLE}\n`)}
policies:
  default:
    approval_timeout: 10s
  readonly:
    read_only: true
    approval_timeout: 10s
`,
  );
  const env = { SU_PW: server.password, APP_PW: appPassword };
  const serve = await startBastion(['serve', '--config', config, '--no-ui'], {
    cwd: tmp.dir,
    env,
    timeoutMs: 60_000,
  });
  undo.push(() => serve.stop());
  const ports = new Map<Conn, number>([
    ['su', serve.ports().get('su') ?? 0],
    ['nsu', serve.ports().get('nsu') ?? 0],
  ]);
  const socket = controlSocketPath(path.join(tmp.dir, 'audit.db'));
  const api = (method: string, params: unknown[]) => controlCall(socket, method as ApiMethod, params);

  // Held statements: decided as the current decider says (deny unless a case says otherwise).
  let decider: Decider = denyAll;
  let nth = 0;
  let stopping = false;
  const decided = new Set<string>();
  const loop = (async () => {
    while (!stopping) {
      try {
        const pending = (await api('listApprovals', ['pending'])) as Approval[];
        for (const a of pending) {
          if (decided.has(a.id)) continue;
          decided.add(a.id);
          await api('decideApproval', [a.id, decider(a, nth++), 'adv-harness']).catch(() => {});
        }
      } catch {}
      await new Promise((r) => setTimeout(r, 40));
    }
  })();

  const fill = (sql: string) =>
    sql
      .replaceAll('{{OUT}}', outDir)
      .replaceAll('{{MARKER_FILE}}', markerFile)
      .replaceAll('{{DATA}}', dataDir)
      .replaceAll('{{SU}}', server.user)
      .replaceAll('{{APP}}', APP_USER)
      .replaceAll('{{LOCKED}}', LOCKED_ROLE)
      .replaceAll('{{VICTIM}}', String(victimPid));

  return {
    version,
    server,
    db,
    state,
    base,
    current: base.snapshot,
    markerFile,
    markers,
    ports,
    serve,
    api,
    setDecider(d) {
      decider = d ?? denyAll;
      nth = 0;
    },
    fill,
    async reconnectVictim() {
      await victim.end().catch(() => {});
      victim = await connectVictim(server);
      victimPid = await pidOf(victim);
    },
    async stop() {
      stopping = true;
      await loop;
      await serve.stop();
      await victim.end().catch(() => {});
      await db.end().catch(() => {});
      await server.stop();
      fs.rmSync(outDir, { recursive: true, force: true });
      tmp.remove();
    },
  };
}

/** A backend of its own that cases try to terminate; it must stay alive. */
async function connectVictim(server: TestPostgres): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: server.url, application_name: 'adv-victim' });
  c.on('error', () => {});
  await c.connect();
  return c;
}

async function pidOf(c: pg.Client): Promise<number> {
  return (await c.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0].p;
}

export { snapshot };
