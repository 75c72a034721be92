// CoreService over a real AppCore (no upstream needed): validation, runtime connection and
// identity changes, listener control, events, persistence of the app config and its secrets.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ConfigPersistence,
  emptyAppConfig,
  loadAppConfig,
  parseAppConfig,
  renderAppConfig,
  vaultEnv,
} from '../../proxy/api/app-config.js';
import { CoreService } from '../../proxy/api/service.js';
import { FileSecretVault, identitySecretKey, MemoryVault, upstreamSecretKey } from '../../proxy/api/vault.js';
import { AppCore } from '../../proxy/core.js';
import type { BastionEvent, ConnectionInput } from '../../shared/api.js';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

const input = (over: Partial<ConnectionInput> = {}): ConnectionInput => ({
  name: 'app',
  listen: '127.0.0.1:0',
  upstreamHost: '127.0.0.1',
  upstreamPort: 5432,
  upstreamUser: 'owner',
  upstreamPassword: 'up-Secret-1',
  upstreamDatabase: 'appdb',
  sslmode: 'disable',
  ...over,
});

describe('CoreService', () => {
  let dir: string;
  let core: AppCore;
  let service: CoreService;
  const events: BastionEvent[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-svc-'));
    const config = emptyAppConfig(path.join(dir, 'bastion.app.yaml'));
    core = new AppCore(config, quiet);
    await core.start({ tolerateListenerErrors: true });
    service = new CoreService(core, {
      persistence: ConfigPersistence.beside(config.store),
      operator: 'op',
      approvals: null,
    });
    service.subscribe((e) => events.push(e));
  });

  after(async () => {
    service.dispose();
    await core.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses bad input with a clear message', async () => {
    await assert.rejects(
      service.saveConnection(input({ name: '../etc' })),
      /connection name "..\/etc" is not valid/,
    );
    await assert.rejects(
      service.saveConnection(input({ listen: 'nowhere' })),
      /listen address must be host:port/,
    );
    await assert.rejects(service.saveConnection(input({ upstreamPort: 70000 })), /upstream port must be/);
    await assert.rejects(
      service.saveConnection(input({ sslmode: 'sometimes' as 'disable' })),
      /sslmode must be one of/,
    );
    await assert.rejects(
      service.saveConnection(input({ tls: { cert: '/nope.crt', key: '/nope.key' } })),
      /no such file/,
    );
    await assert.rejects(service.saveConnection(null as unknown as ConnectionInput), /must be an object/);
    await assert.rejects(service.readFrames('x', -1, 10), /fromSeq/);
  });

  it('record_client_values: set from the form, kept by an edit that does not say, saved to the app config', async () => {
    await assert.rejects(
      service.saveConnection(input({ name: 'rcv', recordClientValues: 'plain' as 'clear' })),
      /recordClientValues must be masked or clear/,
    );
    const file = path.join(dir, 'bastion.app.yaml');
    const saved = await service.saveConnection(input({ name: 'rcv', recordClientValues: 'clear' }));
    assert.equal(saved.recordClientValues, 'clear');
    assert.match(fs.readFileSync(file, 'utf8'), /record_client_values: clear/);
    const edited = await service.saveConnection(input({ name: 'rcv', upstreamPort: 5433 }));
    assert.equal(edited.recordClientValues, 'clear');
    const back = await service.saveConnection(input({ name: 'rcv', recordClientValues: 'masked' }));
    assert.equal(back.recordClientValues, 'masked');
    assert.doesNotMatch(fs.readFileSync(file, 'utf8'), /record_client_values/);
    await service.removeConnection('rcv');
  });

  it('adds a connection stopped, starts and stops its listener, with events', async () => {
    const view = await service.saveConnection(input());
    assert.equal(view.state, 'stopped');
    assert.equal(view.hasUpstreamPassword, true);
    assert.equal(view.upstream, 'postgres://owner@127.0.0.1:5432/appdb?sslmode=disable');
    assert.ok(!JSON.stringify(view).includes('up-Secret-1'));
    const started = await service.startListener('app');
    assert.equal(started.state, 'listening');
    assert.match(started.address ?? '', /^127\.0\.0\.1:\d+$/);
    assert.ok(
      events.some(
        (e) => e.event === 'connection-changed' && e.data.name === 'app' && e.data.state === 'listening',
      ),
    );
    const stopped = await service.stopListener('app');
    assert.equal(stopped.state, 'stopped');
    assert.equal(stopped.address, null);
  });

  it('reports a listener that cannot listen as failed, with the error', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await service.saveConnection(input({ name: 'busy', listen: `127.0.0.1:${port}` }));
      const v = await service.startListener('busy');
      assert.equal(v.state, 'failed');
      assert.match(v.error ?? '', /EADDRINUSE/);
      await assert.rejects(
        service.saveConnection(input({ name: 'twin', listen: `127.0.0.1:${port}` })),
        /already used by connection "busy"/,
      );
    } finally {
      blocker.close();
      await service.removeConnection('busy');
    }
  });

  it('keeps the stored upstream password when the input leaves it out', async () => {
    await service.saveConnection(input({ upstreamPassword: null, upstreamDatabase: 'other' }));
    const c = core.config.connections.find((x) => x.name === 'app')!;
    assert.equal(c.upstream.password, 'up-Secret-1');
    assert.equal(c.upstream.database, 'other');
  });

  it('manages identities: needs a password, a known connection; removal updates identities', async () => {
    await assert.rejects(service.saveIdentity({ name: 'agent-1', connections: ['app'] }), /needs a password/);
    await assert.rejects(
      service.saveIdentity({ name: 'agent-1', password: 'short', connections: ['app'] }),
      /at least 8/,
    );
    await assert.rejects(
      service.saveIdentity({ name: 'agent-1', password: 'long-enough', connections: ['nope'] }),
      /no connection "nope"/,
    );
    await assert.rejects(
      service.saveIdentity({ name: 'agent-1', password: 'long-enough', connections: [], policy: 'strict' }),
      /no policy/,
    );
    const v = await service.saveIdentity({
      name: 'agent-1',
      password: 'agent-Secret-1',
      connections: ['app'],
    });
    assert.deepEqual(v, { name: 'agent-1', kind: 'password', connections: ['app'], policy: 'default' });
    // Keeps the password when editing without one.
    await service.saveIdentity({ name: 'agent-1', password: null, connections: ['app'] });
    assert.equal(core.config.identities[0]!.password, 'agent-Secret-1');
    await service.saveConnection(input({ name: 'extra' }));
    await service.saveIdentity({ name: 'agent-1', connections: ['app', 'extra'] });
    await service.removeConnection('extra');
    assert.deepEqual((await service.listIdentities())[0]!.connections, ['app']);
  });

  it('persists the app config without secrets; the vault file (0600) resolves them', async () => {
    const file = path.join(dir, 'bastion.app.yaml');
    const yaml = fs.readFileSync(file, 'utf8');
    assert.ok(!yaml.includes('up-Secret-1') && !yaml.includes('agent-Secret-1'), yaml);
    assert.match(yaml, /\$\{BASTION_UPSTREAM_app\}/);
    assert.match(yaml, /password: \$\{BASTION_IDENTITY_agent_2d1\}/);
    const secrets = path.join(dir, 'bastion.secrets.json');
    assert.equal(fs.statSync(secrets).mode & 0o777, 0o600);
    const back = loadAppConfig(file, new FileSecretVault(secrets), {});
    assert.equal(back.connections[0]!.upstream.password, 'up-Secret-1');
    assert.equal(back.connections[0]!.upstream.database, 'other');
    assert.equal(back.identities[0]!.password, 'agent-Secret-1');
    assert.equal(back.store, core.config.store);
    // What `bastion serve --config bastion.app.yaml` gets as extra environment.
    assert.equal(vaultEnv(file)[upstreamSecretKey('app')], 'up-Secret-1');
    // Removed identities leave the vault too.
    await service.removeIdentity('agent-1');
    assert.equal(new FileSecretVault(secrets).get(identitySecretKey('agent-1')), null);
  });

  it('tests an upstream and says why it failed', async () => {
    const r = await service.testConnection(input({ upstreamPort: await closedPort() }));
    assert.equal(r.ok, false);
    assert.match(r.message, /ECONNREFUSED/);
  });

  it('answers approvals without a queue (approvals: null), and session calls from the store', async () => {
    assert.deepEqual(await service.listApprovals(), []);
    await assert.rejects(service.listApprovals('bogus' as 'pending'), /state must be one of/);
    await assert.rejects(service.decideApproval('x', 'approve', ''), /not available/);
    assert.deepEqual(await service.listSessions({}), []);
    assert.deepEqual(await service.recentStatements(10), []);
    assert.equal((await service.verifyStore()).ok, true);
  });
});

describe('app config file', () => {
  it('round-trips a config with TLS files, OIDC, policies and limits; empty files are fine', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-cfg-'));
    try {
      const file = path.join(dir, 'bastion.app.yaml');
      const config = emptyAppConfig(file);
      assert.equal(config.connections.length, 0);
      assert.equal(config.store, path.join(dir, 'bastion.db'));
      config.connections.push({
        name: 'db.main',
        listen: { host: '::1', port: 6432 },
        upstream: {
          host: 'db.internal',
          port: 5433,
          user: 'o@x',
          password: 'p:w@d',
          database: 'app db',
          sslmode: 'verify-full',
          sslrootcert: path.join(dir, 'ca.pem'),
        },
        tls: { cert: path.join(dir, 'gw.crt'), key: path.join(dir, 'gw.key') },
      });
      config.identities.push({
        name: 'sso',
        password: null,
        oidc: { issuer: 'https://idp/', audience: 'bastion', identityClaim: 'email' },
        connections: ['db.main'],
        policy: 'strict',
      });
      config.policies = { strict: { read_only: true } };
      config.limits.startupTimeoutMs = 5000;
      const vault = new MemoryVault();
      vault.set(upstreamSecretKey('db.main'), 'p:w@d');
      const text = renderAppConfig(config, file);
      assert.ok(!text.includes('p:w@d'));
      const back = parseAppConfig(text, file, vault.entries());
      assert.deepEqual(back.connections, config.connections);
      assert.deepEqual(back.identities, config.identities);
      assert.deepEqual(back.policies, config.policies);
      assert.deepEqual(back.limits, config.limits);
      assert.deepEqual(parseAppConfig('', file, {}).connections, []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
