// Least privilege upstream: an identity with `upstream_role` acts as that role. Right after its
// own upstream login the gateway runs `SET ROLE <role>` on the session's upstream connection,
// then keeps the client from changing it back.
//
// The lock is part of the session, not of the policy: a policy may allow SET (or anything), an
// operator may write one without the default guardrails, and the lock must hold all the same. So
// a role-locked session decides every statement with a RoleLockedGuard, which refuses whatever
// could change the role before the policy is asked: SET / RESET ROLE, SET / RESET SESSION
// AUTHORIZATION (also as SET LOCAL, in function SET clauses, ALTER ROLE/DATABASE ... SET),
// set_config('role' | 'session_authorization', ...), DISCARD ALL (which resets the role), writes
// to pg_settings (an UPDATE of it is a SET), a FunctionCall message that does any of these (it is
// analysed as the SELECT it equals, with its arguments' values), and anything whose effect
// cannot be known (dynamic SQL, unparseable text): wherever they appear (nested in DO blocks,
// function bodies, PREPARE, EXPLAIN ANALYZE, CTEs).

import type net from 'node:net';
import { GatewayError, SqlState } from '../errors.js';
import {
  type AnalysisCache,
  analyzeFunctionCall,
  type FunctionCallArgs,
  type GuardDecision,
  type Policy,
  SessionGuard,
  type StatementAnalysis,
  sharedAnalysisCache,
  statedReason,
  type Unit,
} from '../policy/index.js';
import { Backend } from '../wire/codes.js';
import { noticeFields, parameterStatus, readyStatus } from '../wire/fields.js';
import * as msg from '../wire/messages.js';
import { runsNoUserCode } from './boundary.js';
import type { UpstreamLink } from './upstream.js';

export const ROLE_LOCK_RULE = 'role-lock';

/** `"name"` with inner quotes doubled: any role name is safe to send. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

const ROLE_SETTINGS = /^(?:SET|RESET)\s+(?:role|session_authorization)$/i;

/** Why a unit could change the session's role, or null. */
export function roleChange(u: Unit): string | null {
  if (u.kind === 'set_role' || u.kind === 'set_session_authorization') return `${u.command} changes the role`;
  // GUC names are case-insensitive: SET "Role" is SET ROLE.
  if (u.kind === 'set' && ROLE_SETTINGS.test(u.command)) return `${u.command} changes the role`;
  if (u.kind === 'discard' && /\bALL\b/i.test(u.command)) return 'DISCARD ALL resets the role';
  if (u.writes && [...u.targets, ...u.relations].some((r) => /(?:^|\.)"?pg_settings"?$/i.test(r))) {
    return 'writing pg_settings changes settings such as the role';
  }
  if (u.kind === 'unknown') return `${u.command}: what it runs cannot be checked (${u.detail ?? 'opaque'})`;
  if (u.kind === 'unparseable') return 'the statement cannot be parsed, so it cannot be checked';
  return null;
}

function violation(statements: StatementAnalysis[]): string | null {
  for (const s of statements) {
    for (const u of s.units) {
      const why = roleChange(u);
      if (why !== null) return why;
    }
  }
  return null;
}

/**
 * The role is verified after each batch (boundary.ts): a statement that runs user code (which
 * could change the role where the gateway cannot see) followed by more statements in one Query
 * would run those as the gateway's upstream user before the check. Refused, fail closed.
 */
function userCodeBeforeLast(statements: StatementAnalysis[]): string | null {
  for (let i = 0; i < statements.length - 1; i++) {
    if (!runsNoUserCode(statements[i]))
      return `"${statements[i].command}" is followed by more statements in one query, and the role is verified only after the query: send them separately`;
  }
  return null;
}

/** A SessionGuard that refuses role changes first, whatever the policy says. */
export class RoleLockedGuard extends SessionGuard {
  constructor(
    policy: Policy,
    identity: string,
    readonly role: string,
    private readonly analyses: AnalysisCache = sharedAnalysisCache,
  ) {
    super(policy, identity, analyses);
    // Also on what the text does not show: the bodies of the functions it calls, operators and
    // casts, as resolved through the catalog when the statement is decided.
    this.refuseUnit = (u) => {
      const why = roleChange(u);
      return why === null
        ? null
        : {
            action: 'block',
            rule: ROLE_LOCK_RULE,
            reason: `the session acts as role "${this.role}" and cannot change it: ${why}`,
          };
    };
  }

  private locked(statements: StatementAnalysis[], why: string, stated: string | null): GuardDecision {
    const reason = `the session acts as role "${this.role}" and cannot change it: ${why}`;
    return {
      action: 'block',
      rule: ROLE_LOCK_RULE,
      reason,
      statements: statements.map((s) => ({
        sql: s.sql,
        kind: s.kind,
        command: s.command,
        writes: s.writes,
        action: 'block',
        rule: ROLE_LOCK_RULE,
        reason,
      })),
      statedReason: stated,
      clientReason: stated ?? this.sessionReason,
    };
  }

  override query(sql: string): GuardDecision {
    const a = this.analyses.analyze(sql);
    const why = violation(a.statements) ?? userCodeBeforeLast(a.statements);
    return why === null ? super.query(sql) : this.locked(a.statements, why, statedReason(sql));
  }

  override parse(name: string, sql: string): GuardDecision {
    const a = this.analyses.analyze(sql);
    const why = violation(a.statements);
    return why === null ? super.parse(name, sql) : this.locked(a.statements, why, statedReason(sql));
  }

  override functionCall(oid: number, args?: FunctionCallArgs): GuardDecision {
    const a = analyzeFunctionCall(oid, args);
    const why = violation(a.statements);
    return why === null ? super.functionCall(oid, args) : this.locked(a.statements, why, null);
  }
}

/**
 * Runs `SET ROLE <role>` on a fresh upstream connection, before anything of the client reaches
 * it. ParameterStatus changes it causes (e.g. is_superuser) update `link.parameters`, so the
 * client's greeting shows the role's view. Fails (and closes the link) if the role cannot be set.
 */
export function assumeUpstreamRole(
  link: UpstreamLink,
  role: string,
  deadline: number,
  maxMessageSize: number,
  log: (m: string) => void,
): Promise<void> {
  const socket: net.Socket = link.socket;
  let buf = link.leftover;
  let failure: { message: string; code: string } | null = null;
  return new Promise<void>((resolve, reject) => {
    const finish = (err: GatewayError | null, rest: Buffer = Buffer.alloc(0)) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      if (err) {
        socket.destroy();
        reject(err);
        return;
      }
      link.leftover = rest;
      resolve();
    };
    const refused = (why: string, code?: string) => {
      log(`SET ROLE ${quoteIdent(role)} failed: ${why}`);
      // The database's own message may name the gateway's upstream user: the client gets the code.
      return new GatewayError(
        SqlState.InvalidAuthorization,
        `the gateway could not act as the upstream role "${role}" for this identity`,
        code ? `upstream error ${code}; see the gateway log` : why,
      );
    };
    const pump = () => {
      while (buf.length >= 5) {
        const len = buf.readInt32BE(1);
        if (len < 4 || len > maxMessageSize) return finish(refused('invalid message from the database'));
        if (buf.length < len + 1) return;
        const type = buf[0];
        const m = buf.subarray(0, len + 1);
        buf = buf.subarray(len + 1);
        if (type === Backend.ErrorResponse) {
          const f = noticeFields(m, 0, m.length);
          failure = { code: f.get('C') ?? 'unknown', message: f.get('M') ?? '' };
        } else if (type === Backend.ParameterStatus) {
          const { name, value } = parameterStatus(m, 0, m.length);
          const i = link.parameters.findIndex(([k]) => k === name);
          if (i >= 0) link.parameters[i] = [name, value];
          else link.parameters.push([name, value]);
        } else if (type === Backend.ReadyForQuery) {
          link.status = String.fromCharCode(readyStatus(m, 0, m.length)) as 'I' | 'T' | 'E';
          return finish(
            failure === null ? null : refused(`${failure.code} ${failure.message}`, failure.code),
            buf,
          );
        }
        // CommandComplete, NoticeResponse: nothing to do.
      }
    };
    const step = () => {
      try {
        pump();
      } catch (e) {
        // A body the reader refuses (FieldError): this runs in a socket event, so it must end
        // here, as a refusal, not as an uncaught exception.
        finish(refused(`invalid message from the database: ${(e as Error).message}`));
      }
    };
    const onData = (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      step();
    };
    const onClose = () =>
      finish(
        failure === null
          ? refused('the database closed the connection')
          : refused(`${failure.code} ${failure.message}`, failure.code),
      );
    const timer = setTimeout(
      () => finish(refused('the database did not answer in time')),
      Math.max(1, deadline - Date.now()),
    );
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onClose);
    socket.write(msg.query(`SET ROLE ${quoteIdent(role)}`));
    step();
  });
}
