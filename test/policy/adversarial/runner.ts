// Sends one case over one transport as one identity, and reports what the client saw: errors,
// whether the session ended, every byte received, and (raw sessions) the session's role after the
// case, asked in the same session once any transaction it left open is committed.

import path from 'node:path';
import { libpqEnv, run } from '../../helpers/clients.js';
import {
  bindMessage,
  cstr,
  errorFields,
  executeMessage,
  int16,
  int32,
  message,
  parseMessage,
  RawClient,
  type RawMessage,
  syncMessage,
} from '../../helpers/raw-client.js';
import { APP_USER, type Env, LOCKED_ROLE, passwordOf } from './harness.js';
import type { Case, Conn, CustomContext, Identity, Via } from './types.js';

export const PSQL = '/usr/lib/postgresql/15/bin/psql';
const TIMEOUT = 20_000;

export interface Outcome {
  /** "SQLSTATE message" of every error the client got. */
  errors: string[];
  /** The session ended (by the gateway or the server) during the case. */
  ended: boolean;
  received: Buffer[];
  /** current_user / session_user after the case, when the session was still open. */
  role: { current: string; session: string } | null;
  /** Problems of the transport itself (timeouts), not of the gateway's decisions. */
  transport: string[];
}

export function expectedRole(
  identity: Identity,
  conn: Conn,
  su: string,
): { current: string; session: string } {
  const session = conn === 'su' ? su : APP_USER;
  return { current: identity === 'locked' ? LOCKED_ROLE : session, session };
}

export async function login(env: Env, identity: Identity, conn: Conn): Promise<RawClient> {
  const c = await RawClient.connect('127.0.0.1', env.ports.get(conn) ?? 0);
  await c.login({ user: identity, password: passwordOf(identity), database: 'appdb' });
  return c;
}

/** Reads up to ReadyForQuery or the end of the session, whichever first. */
async function answer(c: RawClient, out: Outcome): Promise<string | null> {
  for (;;) {
    let m: RawMessage;
    try {
      m = await c.readMessage(TIMEOUT);
    } catch (e) {
      if (c.ended) {
        out.ended = true;
        return null;
      }
      out.transport.push(`no answer: ${(e as Error).message}`);
      return null;
    }
    out.received.push(m.raw);
    if (m.type === 'E') {
      const f = errorFields(m.body);
      out.errors.push(`${f.C} ${f.M}`);
    }
    if (m.type === 'Z') return String.fromCharCode(m.body[0]);
  }
}

export function functionCallMessage(oid: number, args: (string | null)[]): Buffer {
  const values = args.flatMap((a) =>
    a === null ? [int32(-1)] : [int32(Buffer.byteLength(a)), Buffer.from(a)],
  );
  return message('F', int32(oid), int16(1), int16(0), int16(args.length), ...values, int16(0));
}

export async function runCase(env: Env, c: Case, conn: Conn, via: Via): Promise<Outcome> {
  const out: Outcome = { errors: [], ended: false, received: [], role: null, transport: [] };
  if (via === 'psql') return runPsqlCase(env, c, conn, out);
  const client = await login(env, c.identity, conn);
  try {
    let status: string | null = 'I';
    if (c.custom) {
      const ctx: CustomContext = {
        conn,
        login: async () => {
          const x = await login(env, c.identity, conn);
          x.socket.on('data', (d: Buffer) => out.received.push(Buffer.from(d)));
          return x;
        },
        fill: env.fill,
        decide: (f) => env.setDecider((a, nth) => f(a.sql, nth)),
        api: env.api,
        received: out.received,
      };
      try {
        await c.custom(ctx);
      } catch (e) {
        // A hand-driven case that could not run its steps proves nothing: a problem, not a refusal.
        out.transport.push(`custom case failed: ${(e as Error).message}`);
      } finally {
        env.setDecider(null);
      }
    } else if (via === 'fcall') {
      const spec = c.fcall;
      if (!spec) throw new Error(`${c.id}: fcall without a function`);
      const oid = (await env.db.query<{ oid: number }>('SELECT $1::regprocedure::oid::int AS oid', [spec.fn]))
        .rows[0].oid;
      client.write(
        functionCallMessage(
          oid,
          spec.args.map((a) => (a === null ? null : env.fill(a))),
        ),
      );
      status = await answer(client, out);
    } else if (c.script !== undefined) {
      client.write(message('Q', cstr(env.fill(c.script))));
      status = await answer(client, out);
    } else {
      for (const raw of c.sql ?? []) {
        const sql = env.fill(raw);
        if (via === 'query') client.write(message('Q', cstr(sql)));
        else {
          const params = (c.params ?? []).map((p) => (p === null ? null : env.fill(p)));
          client.write(
            Buffer.concat([
              parseMessage('', sql),
              bindMessage('', '', params),
              executeMessage(''),
              syncMessage(),
            ]),
          );
        }
        status = await answer(client, out);
        if (status === null) break;
      }
    }
    if (status !== null && !client.ended) {
      // What the attacker left open is committed, as the attacker would.
      if (status === 'T' || status === 'E') {
        client.write(message('Q', cstr(status === 'T' ? 'COMMIT' : 'ROLLBACK')));
        status = await answer(client, out);
      }
      if (status !== null) {
        const probe: Outcome = { errors: [], ended: false, received: [], role: null, transport: [] };
        client.write(message('Q', cstr('SELECT current_user::text, session_user::text')));
        await answer(client, probe);
        const row = probe.received.find((m) => m[0] === 0x44);
        if (row) {
          const vals = decodeRow(row.subarray(5));
          out.role = { current: vals[0] ?? '', session: vals[1] ?? '' };
        } else if (probe.ended) out.ended = true;
        else if (probe.errors.length > 0 && probe.errors.every((e) => /^42501 Bastion/.test(e))) {
          // The gateway refuses even the probe (fail closed: e.g. a planted `=` operator makes
          // every statement call a user function under read_only): the session can run nothing
          // that would show its role, and the server-side checks still run.
        } else out.transport.push(`role probe failed: ${probe.errors.join('; ')}`);
      }
    } else if (client.ended) out.ended = true;
  } finally {
    client.destroy();
  }
  return out;
}

function decodeRow(body: Buffer): (string | null)[] {
  const n = body.readInt16BE(0);
  const vals: (string | null)[] = [];
  let p = 2;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(p);
    p += 4;
    vals.push(len < 0 ? null : body.toString('utf8', p, p + len));
    if (len > 0) p += len;
  }
  return vals;
}

async function runPsqlCase(env: Env, c: Case, conn: Conn, out: Outcome): Promise<Outcome> {
  const target = {
    host: '127.0.0.1',
    port: env.ports.get(conn) ?? 0,
    user: c.identity,
    password: passwordOf(c.identity),
    database: 'appdb',
    sslmode: 'disable' as const,
  };
  const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1'];
  let input = '';
  if (c.script !== undefined) args.push('-c', env.fill(c.script));
  else {
    args.push('-f', '-');
    input = `${(c.sql ?? []).map((s) => env.fill(s).replace(/;\s*$/, '')).join(';\n')};\n`;
  }
  const r = await run(PSQL, args, {
    env: { ...libpqEnv(target), PATH: path.dirname(PSQL) },
    input,
    timeoutMs: 40_000,
  });
  out.received.push(Buffer.from(r.stdout), Buffer.from(r.stderr));
  if (r.code !== 0)
    out.errors.push(`psql exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n')[0] ?? ''}`);
  if (r.signal) out.transport.push(`psql killed (${r.signal})`);
  // psql that never logged in tried nothing: that must not count as a refusal.
  if (/connection to server .* failed/.test(r.stderr))
    out.transport.push(`psql could not connect: ${r.stderr.trim()}`);
  if (/server closed the connection|terminating connection|connection to server was lost/.test(r.stderr))
    out.ended = true;
  return out;
}
