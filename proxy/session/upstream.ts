// The gateway's own connection to the upstream database: TCP, TLS per sslmode, StartupMessage,
// authentication with the gateway's credentials (SCRAM-SHA-256, MD5, cleartext, trust), then the
// ParameterStatus / BackendKeyData / ReadyForQuery that follow.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP

import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { tlsServerEndPointHash } from '../auth/channel-binding.js';
import { md5PasswordResponse } from '../auth/md5.js';
import { ScramClient } from '../auth/scram-client.js';
import type { ChannelBinding } from '../auth/scram-server.js';
import type { UpstreamConfig } from '../config/types.js';
import { GatewayError, SqlState } from '../errors.js';
import { AuthCode, Backend } from '../wire/codes.js';
import { noticeFields, parameterStatus } from '../wire/fields.js';
import * as msg from '../wire/messages.js';
import { BodyReader } from '../wire/reader.js';
import { SocketReader } from '../wire/socket-reader.js';

export interface UpstreamLink {
  socket: net.Socket;
  /** Bytes received after ReadyForQuery (normally none). */
  leftover: Buffer;
  parameters: [string, string][];
  pid: number;
  key: Buffer;
  status: 'I' | 'T' | 'E';
}

function unreachable(why: string): GatewayError {
  return new GatewayError(SqlState.UnableToConnect, 'the gateway could not connect to the database', why);
}

function tcpConnect(u: UpstreamConfig, deadline: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: u.host, port: u.port });
    const timer = setTimeout(
      () => {
        s.destroy();
        reject(unreachable('connection timed out'));
      },
      Math.max(1, deadline - Date.now()),
    );
    s.once('connect', () => {
      clearTimeout(timer);
      s.setNoDelay(true);
      s.setKeepAlive(true, 30_000);
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(unreachable(e.code ?? e.message));
    });
  });
}

function tlsOptions(u: UpstreamConfig): tls.ConnectionOptions {
  const verify = u.sslmode === 'verify-ca' || u.sslmode === 'verify-full';
  // `host` is what verify-full checks the certificate against. With only `socket` given, Node
  // falls back to "localhost", so an IP upstream must be named here (SNI takes names only).
  const opts: tls.ConnectionOptions = { rejectUnauthorized: verify, host: u.host };
  if (!net.isIP(u.host)) opts.servername = u.host;
  if (u.sslrootcert) opts.ca = readFileSync(u.sslrootcert);
  if (u.sslmode === 'verify-ca') opts.checkServerIdentity = () => undefined;
  return opts;
}

/** TCP plus the TLS negotiation that sslmode asks for. Also used to forward cancel requests. */
export async function openTransport(u: UpstreamConfig, deadline: number): Promise<net.Socket> {
  const socket = await tcpConnect(u, deadline);
  if (u.sslmode === 'disable') return socket;
  socket.write(msg.sslRequest());
  const reader = new SocketReader(socket);
  let answer: Buffer;
  try {
    answer = await reader.readBytes(1, deadline);
  } catch {
    socket.destroy();
    throw unreachable('connection closed during SSL negotiation');
  }
  const rest = reader.detach();
  if (rest.length > 0) {
    socket.destroy();
    throw unreachable('unexpected data after the SSL response');
  }
  if (answer[0] === 0x4e /* N */) {
    if (u.sslmode === 'prefer') return socket;
    socket.destroy();
    throw unreachable(`the server does not support SSL, but sslmode=${u.sslmode}`);
  }
  if (answer[0] !== 0x53 /* S */) {
    socket.destroy();
    throw unreachable('invalid response to SSL negotiation');
  }
  return new Promise((resolve, reject) => {
    const t = tls.connect({ ...tlsOptions(u), socket });
    t.once('secureConnect', () => resolve(t));
    t.once('error', (e) => {
      t.destroy();
      reject(unreachable(`TLS: ${e.message}`));
    });
  });
}

/** Connects and logs in. `params` are the startup parameters to send besides user/database. */
export async function connectUpstream(
  u: UpstreamConfig,
  params: Record<string, string>,
  opts: { timeoutMs: number; maxMessageSize: number },
): Promise<UpstreamLink> {
  const deadline = Date.now() + opts.timeoutMs;
  const socket = await openTransport(u, deadline);
  const reader = new SocketReader(socket);
  try {
    socket.write(msg.startupMessage({ ...params, user: u.user, database: u.database }));
    await authenticate(u, socket, reader, deadline, opts.maxMessageSize);
    const parameters: [string, string][] = [];
    let pid = 0;
    let key = Buffer.alloc(0);
    for (;;) {
      const m = await reader.readMessage(opts.maxMessageSize, deadline);
      switch (m.type) {
        case Backend.ParameterStatus: {
          const { name, value } = parameterStatus(m.raw, 0, m.raw.length);
          parameters.push([name, value]);
          break;
        }
        case Backend.BackendKeyData: {
          // int32 pid, then the key: 4 bytes in protocol 3.0, up to 256 in 3.2.
          const r = new BodyReader(m.body, 0, m.body.length, 'BackendKeyData');
          pid = r.int32();
          key = Buffer.from(r.rest());
          break;
        }
        case Backend.ReadyForQuery: {
          const r = new BodyReader(m.body, 0, m.body.length, 'ReadyForQuery');
          const status = String.fromCharCode(r.uint8()) as 'I' | 'T' | 'E';
          r.expectEnd();
          return { socket, leftover: reader.detach(), parameters, pid, key, status };
        }
        case Backend.ErrorResponse:
          throw upstreamError(m.raw);
        case Backend.NoticeResponse:
        case Backend.NegotiateProtocolVersion:
          break;
        default:
          throw unreachable(`unexpected message '${String.fromCharCode(m.type)}' during startup`);
      }
    }
  } catch (e) {
    reader.detach();
    socket.destroy();
    if (e instanceof GatewayError) throw e;
    throw unreachable((e as Error).message);
  }
}

/** tls-server-end-point binding data of the upstream's certificate, when the link is TLS. */
function channelBindingOf(socket: net.Socket): ChannelBinding | undefined {
  if (!(socket instanceof tls.TLSSocket)) return undefined;
  const cert = socket.getPeerX509Certificate();
  if (!cert) return undefined;
  try {
    return { type: 'tls-server-end-point', data: tlsServerEndPointHash(cert.raw) };
  } catch {
    return undefined; // e.g. Ed25519 certificates have no defined binding: plain SCRAM then
  }
}

function upstreamError(raw: Buffer): GatewayError {
  const f = noticeFields(raw, 0, raw.length);
  // The upstream's message may name the gateway's upstream role: give the client the code only.
  return new GatewayError(
    SqlState.UnableToConnect,
    'the database refused the gateway',
    `upstream error ${f.get('C') ?? 'unknown'}; see the gateway log`,
    undefined,
    f.get('C'),
  );
}

async function authenticate(
  u: UpstreamConfig,
  socket: net.Socket,
  reader: SocketReader,
  deadline: number,
  max: number,
): Promise<void> {
  let scram: ScramClient | null = null;
  const needPassword = (): string => {
    if (u.password === null) throw unreachable('the database asks for a password and none is configured');
    return u.password;
  };
  for (;;) {
    const m = await reader.readMessage(max, deadline);
    if (m.type === Backend.ErrorResponse) throw upstreamError(m.raw);
    if (m.type !== Backend.Authentication) {
      throw unreachable(`unexpected message '${String.fromCharCode(m.type)}' during authentication`);
    }
    const r = new BodyReader(m.body, 0, m.body.length, 'Authentication');
    const code = r.int32();
    switch (code) {
      case AuthCode.Ok:
        // With SCRAM the server must have proven it knows the password too.
        if (scram !== null && !scram.verified)
          throw unreachable('the server skipped SCRAM server verification');
        return;
      case AuthCode.CleartextPassword:
        if (u.sslmode === 'disable' && u.host !== '127.0.0.1' && u.host !== 'localhost' && u.host !== '::1') {
          // Cleartext over an unencrypted network link would expose the gateway's secret.
          throw unreachable('refusing to send a cleartext password without TLS');
        }
        socket.write(msg.passwordMessage(needPassword()));
        break;
      case AuthCode.MD5Password:
        socket.write(msg.passwordMessage(md5PasswordResponse(u.user, needPassword(), r.bytes(4))));
        break;
      case AuthCode.SASL: {
        // Mechanism names, each NUL-terminated, up to an empty one.
        const offered: string[] = [];
        for (let name = r.cstring(); name !== ''; name = r.cstring()) offered.push(name);
        scram = new ScramClient(needPassword(), channelBindingOf(socket));
        const mech = scram.mechanismFor(offered);
        if (mech === null) throw unreachable(`no supported SASL mechanism in ${offered.join(', ')}`);
        socket.write(msg.saslInitialResponse(mech, scram.clientFirst()));
        break;
      }
      case AuthCode.SASLContinue:
        if (scram === null) throw unreachable('SASL continue without SASL start');
        socket.write(msg.saslResponse(scram.clientFinal(Buffer.from(r.rest()))));
        break;
      case AuthCode.SASLFinal:
        if (scram === null) throw unreachable('SASL final without SASL start');
        scram.verifyServerFinal(Buffer.from(r.rest()));
        break;
      default:
        throw unreachable(`unsupported authentication method ${code}`);
    }
  }
}
