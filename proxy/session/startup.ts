// A session's startup: the startup packet loop (TLS, GSSENC refusal, protocol negotiation), the
// client's authentication as an identity, the access checks, then the upstream login with the
// gateway's credentials. It ends with everything the relay needs, or with the session refused.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP

import type net from 'node:net';
import tls from 'node:tls';
import { GatewayError, SqlState } from '../errors.js';
import { type MaskCatalog, MaskingStream } from '../masking/index.js';
import { isGuardableEncoding, unguardableEncodingReason } from '../policy/encoding.js';
import { type Policy, policyFor, SessionGuard } from '../policy/index.js';
import { isTrueSetting, unguardableSetting } from '../policy/lexing.js';
import { READ_ONLY_SETTINGS } from '../policy/read-only.js';
import { unsafeSearchPathSetting } from '../policy/search-path.js';
import { LATEST_MINOR, MAX_STARTUP_PACKET } from '../wire/codes.js';
import * as msg from '../wire/messages.js';
import { SocketClosedError, SocketReader } from '../wire/socket-reader.js';
import { parseStartupPacket, StartupParseError } from '../wire/startup.js';
import { type AccessGrant, upstreamFor } from './access.js';
import { authenticate } from './authenticate.js';
import { ClientValues } from './client-values.js';
import type { SessionParts } from './context.js';
import { ProtocolState } from './protocol-state.js';
import type { RelayContext, SessionMasking } from './relay.js';
import { assumeUpstreamRole, RoleLockedGuard } from './role-lock.js';
import { connectUpstream, type UpstreamLink } from './upstream.js';

/** Startup packet parameters passed on to the upstream. Others (notably `options`, which can set any GUC such as `role`) are dropped. */
const FORWARDED_PARAMS = new Set([
  'application_name',
  'client_encoding',
  'datestyle',
  'timezone',
  'extra_float_digits',
  'intervalstyle',
  'search_path',
  'lc_monetary',
  'lc_numeric',
  'lc_time',
  'bytea_output',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'default_transaction_read_only',
  'default_transaction_isolation',
]);

/** How startup ended. */
export type StartupOutcome =
  /** Ready to relay. */
  | { kind: 'relay'; context: RelayContext }
  /** The connection was a CancelRequest (for another session): nothing else follows on it. */
  | { kind: 'cancel'; pid: number; key: Buffer }
  /** The session is closed: refused with a FATAL error, or the client left. */
  | { kind: 'ended' };

/** The steps startup reports as it goes (the session's `state`). */
export type StartupStep = 'auth' | 'connecting';

/**
 * Runs a session's startup. `progress` learns each step. Failures end the session here: the
 * client gets the FATAL error, the session closes.
 */
export async function runStartup(
  s: SessionParts,
  progress: (step: StartupStep) => void,
): Promise<StartupOutcome> {
  const deadline = Date.now() + s.ctx.limits.startupTimeoutMs;
  let reader = new SocketReader(s.client.socket);
  try {
    let minor = 0;
    let params: Record<string, string>;
    for (;;) {
      const body = await reader.readStartupPacket(MAX_STARTUP_PACKET, deadline);
      recordStartup(s, body);
      const packet = parseStartupPacket(body);
      if (packet.kind === 'cancel') {
        reader.detach();
        return { kind: 'cancel', pid: packet.pid, key: packet.key };
      }
      if (packet.kind === 'gssenc') {
        s.client.socket.write('N');
        continue;
      }
      if (packet.kind === 'ssl') {
        if (s.info.tls || s.ctx.tls === null) {
          s.client.socket.write('N');
          continue;
        }
        // Bytes sent after SSLRequest, before the handshake, would be unencrypted data
        // smuggled into the TLS session (CVE-2021-23214): refuse.
        if (reader.detach().length > 0) {
          throw new GatewayError(SqlState.ProtocolViolation, 'received unencrypted data after SSL request');
        }
        s.client.socket.write('S');
        s.client.socket = await startTls(s, s.client.socket, s.ctx.tls.context, deadline);
        s.info.tls = true;
        reader = new SocketReader(s.client.socket);
        continue;
      }
      minor = packet.minor;
      params = packet.params;
      if (packet.minor > LATEST_MINOR || packet.protocolOptions.length > 0) {
        minor = Math.min(packet.minor, LATEST_MINOR);
        s.client.send(msg.negotiateProtocolVersion(minor, packet.protocolOptions));
      }
      break;
    }
    s.info.protocol = `3.${minor}`;
    const values = startupValues(s);
    s.info.database =
      params.database === undefined ? null : (values?.text(params.database) ?? params.database);
    s.info.applicationName =
      params.application_name === undefined
        ? null
        : (values?.text(params.application_name) ?? params.application_name);
    checkClientEncoding(params);
    progress('auth');
    const grant = await authenticate(s, reader, params, deadline);
    const protocol = new ProtocolState();
    const guard = openSession(s, grant, protocol);
    progress('connecting');
    const link = await connectUpstream(
      upstreamFor(s.ctx.connection.upstream, grant.entry),
      forwardedParams(params, guard.policy.readOnly),
      {
        timeoutMs: Math.max(1000, deadline - Date.now()),
        maxMessageSize: s.ctx.limits.maxMessageSize,
      },
    );
    if (grant.upstreamRole !== null) {
      await assumeUpstreamRole(
        link,
        grant.upstreamRole,
        Math.max(Date.now() + 1000, deadline),
        s.ctx.limits.maxMessageSize,
        (m) => s.ctx.log.warn(`session ${s.id}: identity "${grant.identity}": ${m}`),
      );
    }
    if (guard.policy.readOnly) checkReadOnlyLogin(link);
    // A database or role default the gateway cannot read statements under (policy/lexing.ts),
    // or a search_path under which names do not say what runs (PostgreSQL 18 reports it).
    for (const [k, v] of link.parameters) {
      const why = unguardableSetting(k, v);
      const path = unsafeSearchPathSetting(k, v);
      if (why === null && path === null) continue;
      link.socket.destroy();
      throw why !== null
        ? new GatewayError(SqlState.FeatureNotSupported, why)
        : new GatewayError(SqlState.InsufficientPrivilege, `${path}: refused at login`);
    }
    const catalog = await loadCatalog(s, link.socket);
    guard.resolveWith(() => catalog.calls);
    const masking = startMasking(s, guard.policy, protocol, catalog);
    const clientLeftover = reader.detach();
    return {
      kind: 'relay',
      context: { upstream: link, minor, clientLeftover, grant, protocol, guard, masking, catalog },
    };
  } catch (e) {
    reader.detach();
    failStartup(s, e);
    return { kind: 'ended' };
  }
}

/**
 * The identity is authenticated and allowed in: it counts as one of its sessions until the
 * session ends, its guardrails watch the protocol, and the session's record opens.
 */
function openSession(s: SessionParts, grant: AccessGrant, protocol: ProtocolState): SessionGuard {
  const release = s.ctx.access.acquire(grant);
  s.finished.then(release);
  const policy = policyFor(s.ctx.policies, grant.policy);
  const guard =
    grant.upstreamRole === null
      ? new SessionGuard(policy, grant.identity)
      : new RoleLockedGuard(policy, grant.identity, grant.upstreamRole);
  guard.attach(protocol);
  s.recorder.open({ ...s.info });
  s.ctx.events.opened?.({ ...s.info });
  return guard;
}

/**
 * The upstream's catalog: masking needs table OIDs and view definitions, guardrails what names,
 * operators and casts run there (policy/resolution.ts). No statement may run with it unknown, so
 * a session that cannot load it is refused (fail closed).
 */
async function loadCatalog(s: SessionParts, upstream: net.Socket): Promise<MaskCatalog> {
  const catalog = s.ctx.catalog(s.ctx.connection.name);
  try {
    // verify(): also sees objects created on the server since the last load, outside the gateway.
    await catalog.verify({ force: true });
  } catch (e) {
    upstream.destroy();
    s.ctx.log.error(`session ${s.id}: catalog: ${(e as Error).message}`);
    throw new GatewayError(
      SqlState.UnableToConnect,
      'the gateway cannot read the database catalog it needs to guard and mask statements',
      'see the gateway log',
    );
  }
  return catalog;
}

function startMasking(
  s: SessionParts,
  policy: Policy,
  protocol: ProtocolState,
  catalog: MaskCatalog,
): SessionMasking | null {
  const masking = s.ctx.masking(policy);
  if (masking.inactive) return null;
  return { stream: new MaskingStream({ masking, catalog, protocol }), catalog };
}

function startTls(
  s: SessionParts,
  socket: net.Socket,
  secureContext: tls.SecureContext,
  deadline: number,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const t = new tls.TLSSocket(socket, { isServer: true, secureContext });
    const timer = setTimeout(
      () => reject(new GatewayError(SqlState.ProtocolViolation, 'TLS handshake timed out')),
      Math.max(1, deadline - Date.now()),
    );
    t.once('secure', () => {
      clearTimeout(timer);
      t.on('error', (e) => s.ctx.log.warn(`session ${s.id}: client TLS socket: ${e.message}`));
      resolve(t);
    });
    t.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * The client's startup parameters the upstream gets. A read_only session's upstream runs every
 * transaction read-only whatever the client asked (policy/read-only.ts): a startup value is also
 * what RESET and DISCARD ALL return to, and it overrides database and role defaults.
 */
function forwardedParams(params: Record<string, string>, readOnly: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    const name = k.toLowerCase();
    if (readOnly && READ_ONLY_SETTINGS.has(name)) continue;
    if (FORWARDED_PARAMS.has(name)) out[k] = v;
  }
  if (readOnly) out.default_transaction_read_only = 'on';
  return out;
}

/**
 * The upstream must confirm read-only transactions (PostgreSQL 14 and later report the setting,
 * which is also how the relay learns of a later change): otherwise the session is refused.
 */
function checkReadOnlyLogin(link: UpstreamLink): void {
  const reported = link.parameters.find(([k]) => k === 'default_transaction_read_only')?.[1] ?? null;
  if (isTrueSetting(reported)) return;
  link.socket.destroy();
  throw new GatewayError(
    SqlState.FeatureNotSupported,
    reported === null
      ? 'this read-only identity needs PostgreSQL 14 or later upstream: the database does not report default_transaction_read_only, so the gateway cannot verify read-only transactions'
      : `the database did not start this read-only session with read-only transactions (default_transaction_read_only = ${reported})`,
  );
}

/**
 * What the store may keep of values the client typed into its startup packet (database,
 * application_name, options): the identity, hence its policy, is not known yet, so the default
 * policy's detectors apply (client-values.ts). null: the connection keeps them in clear.
 */
function startupValues(s: SessionParts): ClientValues | null {
  if (s.ctx.connection.recordClientValues === 'clear') return null;
  return new ClientValues(() => s.ctx.masking(policyFor(s.ctx.policies, 'default')));
}

/** Records a startup-phase packet as a type-0 frame (see FrameChunk). */
function recordStartup(s: SessionParts, body: Buffer): void {
  const b = Buffer.allocUnsafe(5 + body.length);
  b[0] = 0;
  b.writeInt32BE(4 + body.length, 1);
  body.copy(b, 5);
  s.recorder.begin('client');
  s.recorder.frameBytes(startupValues(s)?.frame(0, b, 0, b.length) ?? b);
  s.recorder.end();
}

/** Ends a session whose startup failed: the client gets the reason as a FATAL error. */
function failStartup(s: SessionParts, e: unknown): void {
  if (e instanceof SocketClosedError || s.closed) {
    s.close('client disconnected during startup');
    return;
  }
  let err: GatewayError;
  if (e instanceof GatewayError) err = e;
  else if (e instanceof StartupParseError) err = new GatewayError(SqlState.ProtocolViolation, e.message);
  else {
    s.ctx.log.error(`session ${s.id}: startup failed: ${(e as Error).stack ?? e}`);
    err = new GatewayError(SqlState.InternalError, 'internal error in the gateway');
  }
  if (err.code === SqlState.UnableToConnect) {
    s.ctx.log.warn(`session ${s.id}: upstream of "${s.ctx.connection.name}": ${err.detail ?? err.message}`);
  }
  s.client.fatal(err);
  s.close(`refused: ${err.code} ${err.message}`);
}

/**
 * A startup packet's client_encoding, if any, must be one the gateway reads as the server does;
 * its search_path must not put schemas before pg_catalog (policy/search-path.ts).
 */
function checkClientEncoding(params: Record<string, string>): void {
  for (const [k, v] of Object.entries(params)) {
    if (k.toLowerCase() === 'client_encoding' && !isGuardableEncoding(v))
      throw new GatewayError(SqlState.FeatureNotSupported, unguardableEncodingReason(v));
    const path = unsafeSearchPathSetting(k, v);
    if (path !== null) throw new GatewayError(SqlState.InsufficientPrivilege, path);
  }
}
