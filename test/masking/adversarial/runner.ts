// Sends one masking case as one identity over one transport through `bastion serve`, and keeps
// every byte the client received: the login's ParameterStatus messages, rows, COPY data, errors,
// notices, notifications; psql's whole output. Then, when the case has `readBack`, a second
// session (after the first ended) reads what the first may have left in server state.

import { runPsql } from '../../helpers/clients.js';
import {
  bindMessage,
  cstr,
  errorFields,
  executeMessage,
  message,
  parseMessage,
  RawClient,
  type RawMessage,
  syncMessage,
} from '../../helpers/raw-client.js';
import type { MaskEnv } from './harness.js';
import { passwordOf } from './harness.js';
import type { Identity, MaskCase, MaskCustomContext, Via } from './types.js';

const TIMEOUT = 20_000;

export interface Outcome {
  /** "SQLSTATE message" of every error the client got (first session). */
  errors: string[];
  /** The first session ended (by the gateway or the server) during the case. */
  ended: boolean;
  /** Every protocol message (raw sessions) or output (psql) received, readBack included. */
  received: Buffer[];
  /** Problems of the transport itself (timeouts, a custom case that could not run). */
  transport: string[];
  /** Sessions logged in (the store must show this many closed before it is searched). */
  logins: number;
}

export async function login(env: MaskEnv, identity: Identity, out: Outcome): Promise<RawClient> {
  const c = await RawClient.connect('127.0.0.1', env.port);
  const r = await c.login({ user: identity, password: passwordOf(identity), database: 'appdb' });
  out.logins++;
  // ParameterStatus at login is a channel too (a setting laundered by ALTER ROLE ... SET).
  for (const m of r.messages) out.received.push(m.raw);
  return c;
}

/** Reads up to ReadyForQuery or the end of the session; the status, or null when it ended. */
async function answer(c: RawClient, out: Outcome, errors: string[] | null): Promise<string | null> {
  for (;;) {
    let m: RawMessage;
    try {
      m = await c.readMessage(TIMEOUT);
    } catch (e) {
      if (c.ended) return null;
      out.transport.push(`no answer: ${(e as Error).message}`);
      return null;
    }
    out.received.push(m.raw);
    if (m.type === 'E' && errors) {
      const f = errorFields(m.body);
      errors.push(`${f.C} ${f.M}`);
    }
    if (m.type === 'Z') return String.fromCharCode(m.body[0]);
  }
}

function send(c: RawClient, sql: string, via: Via, params: (string | null)[]): void {
  if (via === 'query') c.write(message('Q', cstr(sql)));
  else
    c.write(
      Buffer.concat([
        parseMessage('', sql),
        bindMessage('', '', params, via === 'binary' ? [1] : []),
        executeMessage(''),
        syncMessage(),
      ]),
    );
}

export function emptyOutcome(): Outcome {
  return { errors: [], ended: false, received: [], transport: [], logins: 0 };
}

export async function runCase(env: MaskEnv, c: MaskCase, identity: Identity, via: Via): Promise<Outcome> {
  const out = emptyOutcome();
  if (via === 'psql') await runPsqlCase(env, c, identity, out);
  else await runRawCase(env, c, identity, via, out);
  if (c.readBack && c.readBack.length > 0) {
    // Another session, later: what the first left on the server must come back masked too.
    const second = await login(env, identity, out);
    try {
      for (const sql of c.readBack) {
        second.write(message('Q', cstr(sql)));
        if ((await answer(second, out, null)) === null) break;
      }
      await second.end();
    } finally {
      second.destroy();
    }
  }
  return out;
}

async function runRawCase(
  env: MaskEnv,
  c: MaskCase,
  identity: Identity,
  via: Via,
  out: Outcome,
): Promise<void> {
  const client = await login(env, identity, out);
  const extra: RawClient[] = [];
  try {
    let status: string | null = 'I';
    if (c.custom) {
      const ctx: MaskCustomContext = {
        identity,
        login: async () => {
          const x = await login(env, identity, out);
          x.socket.on('data', (d: Buffer) => out.received.push(Buffer.from(d)));
          extra.push(x);
          return x;
        },
        received: out.received,
        api: env.api,
      };
      try {
        await c.custom(ctx);
      } catch (e) {
        // A hand-driven case that could not run its steps proves nothing: a problem, not a pass.
        out.transport.push(`custom case failed: ${(e as Error).message}`);
      }
    } else if (c.script !== undefined) {
      client.write(message('Q', cstr(c.script)));
      status = await answer(client, out, out.errors);
    } else {
      for (const sql of c.sql ?? []) {
        send(client, sql, via, c.params ?? []);
        status = await answer(client, out, out.errors);
        if (status === null) break;
      }
    }
    if (status === 'T' || status === 'E') {
      // What the attacker left open is committed (or rolled back after an error), as it would be.
      client.write(message('Q', cstr(status === 'T' ? 'COMMIT' : 'ROLLBACK')));
      status = await answer(client, out, null);
    }
    if (status !== null) {
      // One more round trip: collects what arrives late (notifications) and shows the session lives.
      client.write(message('Q', cstr("SELECT 'mask-harness-alive'")));
      status = await answer(client, out, null);
    }
    if (status === null) out.ended = true;
    else await client.end();
    for (const x of extra) await x.end().catch(() => {});
  } finally {
    client.destroy();
    for (const x of extra) x.destroy();
  }
}

async function runPsqlCase(env: MaskEnv, c: MaskCase, identity: Identity, out: Outcome): Promise<void> {
  const input =
    c.script !== undefined
      ? `${c.script}\n`
      : `${(c.sql ?? []).map((s) => s.replace(/;\s*$/, '')).join(';\n')};\n`;
  const r = await runPsql(['-q', '-f', '-'], {
    host: '127.0.0.1',
    port: env.port,
    user: identity,
    password: passwordOf(identity),
    database: 'appdb',
    sslmode: 'disable',
    input,
    timeoutMs: 40_000,
  });
  out.logins++;
  out.received.push(Buffer.from(r.stdout), Buffer.from(r.stderr));
  if (r.code !== 0)
    out.errors.push(`psql exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n')[0] ?? ''}`);
  if (r.signal) out.transport.push(`psql killed (${r.signal})`);
  // psql that never logged in tried nothing: that must not count as a refusal.
  if (/connection to server .* failed/.test(r.stderr))
    out.transport.push(`psql could not connect: ${r.stderr.trim()}`);
  if (/server closed the connection|terminating connection|connection to server was lost/.test(r.stderr))
    out.ended = true;
}
