// The masking corpus's environment: one real PostgreSQL 18 holding data.ts's canary PII, an
// ordinary login role as the gateway's upstream user (owns nothing, reads and writes everything),
// and `bastion serve --no-ui` as a child process with two identities: `rules` (column rules with
// mixed strategies plus the detectors) and `dflt` (no policy: the built-in default). Held
// statements are denied by a decider polling the serve's control socket, as in the guardrail
// corpus (test/policy/adversarial/harness.ts), so that no case waits for an approval timeout.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { controlCall, controlSocketPath } from '../../../cli/control.js';
import type { Approval } from '../../../shared/api.js';
import type { ApiMethod } from '../../../shared/rpc.js';
import { type RunningBastion, startBastion, tempDir } from '../../helpers/cli.js';
import { startPostgres, type TestPostgres } from '../../helpers/postgres.js';
import { schemaSql } from './data.js';
import type { Identity } from './types.js';

export const APP_USER = 'mask_app';
export const IDENTITIES: Identity[] = ['rules', 'dflt'];
export const passwordOf = (i: Identity) => `${i}-mask-pw`;

/**
 * The `rules` policy: every sensitive column named in a column rule, strategies mixed so that each
 * one's output is exercised (a partial mask must not keep enough to rebuild the value), then the
 * detectors for everything the rules do not name.
 */
const RULES_POLICY = `  rules:
    approval_timeout: 10s
    masking:
      - name: contact
        columns: [pii.customers.email, pii.customers.phone]
        strategy: partial
      - name: national-ids
        columns: [pii.customers.ssn, pii.numbers.ssn_num]
        strategy: hash
      - name: cards
        columns: [pii.customers.card, pii.numbers.card_num, pii.customers.secret]
        strategy: redact
      - name: documents
        columns: [pii.docs.profile, pii.docs.note]
        strategy: 'null' # quoted: bare null is YAML's null
      - name: detectors
        detect: [email, credit_card, ssn, phone]
        strategy: partial
`;

export interface MaskEnv {
  server: TestPostgres;
  /** The harness's own superuser connection (appdb): setup, cleanup, checks on the server. */
  db: pg.Client;
  port: number;
  serve: RunningBastion;
  /** The store file `bastion serve` writes. */
  storePath: string;
  /** A scratch directory for exported reports. */
  dir: string;
  api(method: string, params: unknown[]): Promise<unknown>;
  stop(): Promise<void>;
}

export async function startMaskEnv(): Promise<MaskEnv> {
  const server = await startPostgres({ version: 18 });
  const undo: (() => Promise<unknown>)[] = [() => server.stop()];
  try {
    return await setUp(server, undo);
  } catch (e) {
    // A half-built environment must not keep the test process alive (open clients, the server).
    for (const u of undo.reverse()) await u().catch(() => {});
    throw e;
  }
}

async function setUp(server: TestPostgres, undo: (() => Promise<unknown>)[]): Promise<MaskEnv> {
  const tmp = tempDir('bastion-mask-');
  undo.push(async () => tmp.remove());
  const db = new pg.Client({ connectionString: server.url });
  undo.push(() => db.end());
  await db.connect();
  const appPassword = `app-${randomBytes(8).toString('hex')}`;
  await db.query(`CREATE ROLE ${APP_USER} LOGIN PASSWORD '${appPassword}'; ${schemaSql(APP_USER)}`);

  const config = path.join(tmp.dir, 'bastion.yaml');
  const identity = (name: Identity, extra: string) =>
    `  - name: ${name}\n    password: ${passwordOf(name)}\n    connections: [app]\n${extra}`;
  fs.writeFileSync(
    config,
    `store: ./audit.db
connections:
  - name: app
    listen: 127.0.0.1:0
    upstream: postgres://${APP_USER}:\${APP_PW}@127.0.0.1:${server.port}/${server.database}?sslmode=disable
identities:
${identity('rules', '    policy: rules\n')}${identity('dflt', '')}
policies:
${RULES_POLICY}`,
  );
  const serve = await startBastion(['serve', '--config', config, '--no-ui'], {
    cwd: tmp.dir,
    env: { APP_PW: appPassword },
    timeoutMs: 60_000,
  });
  undo.push(() => serve.stop());
  const storePath = path.join(tmp.dir, 'audit.db');
  const socket = controlSocketPath(storePath);
  const api = (method: string, params: unknown[]) => controlCall(socket, method as ApiMethod, params);

  // Held statements are denied at once: a masking case is never about an approval.
  let stopping = false;
  const decided = new Set<string>();
  const loop = (async () => {
    while (!stopping) {
      try {
        const pending = (await api('listApprovals', ['pending'])) as Approval[];
        for (const a of pending) {
          if (decided.has(a.id)) continue;
          decided.add(a.id);
          await api('decideApproval', [a.id, 'deny', 'mask-harness']).catch(() => {});
        }
      } catch {}
      await new Promise((r) => setTimeout(r, 40));
    }
  })();

  return {
    server,
    db,
    port: serve.ports().get('app') ?? 0,
    serve,
    storePath,
    dir: tmp.dir,
    api,
    async stop() {
      stopping = true;
      await loop;
      await serve.stop();
      await db.end().catch(() => {});
      await server.stop();
      tmp.remove();
    },
  };
}
