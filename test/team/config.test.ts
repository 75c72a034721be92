// Team-mode keys of the config file: `store: postgres://...`, `gateway`, `spool`,
// `store_password_file`; errors name file, line and key, and never show the store's password.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, parseConfig } from '../../proxy/config/load.js';
import { describeStore } from '../../proxy/store/pg/target.js';

const CONNECTIONS = `connections:
  - name: app
    listen: 127.0.0.1:0
    upstream: postgres://owner@127.0.0.1:5432/appdb?sslmode=disable
`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-team-config-'));
const file = path.join(dir, 'bastion.yaml');

function fails(text: string, env: NodeJS.ProcessEnv, pattern: RegExp): string {
  try {
    parseConfig(text, file, env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, pattern);
    return e.message;
  }
  assert.fail('the config was accepted');
}

test('a postgres:// store selects team mode: spool beside the config, gateway name, password from the environment', () => {
  const c = parseConfig(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own ${NAME} syntax.
    'store: postgres://audit:${STORE_PW}@db.internal:6543/audit?sslmode=verify-full\ngateway: eu-1\n' +
      CONNECTIONS,
    file,
    { STORE_PW: 's3cret-pw' },
  );
  assert.equal(c.store, path.join(dir, 'bastion-spool.db'));
  assert.equal(c.team?.gateway, 'eu-1');
  assert.equal(c.team?.target.password, 's3cret-pw');
  assert.equal(c.team?.target.port, 6543);
  assert.equal(describeStore(c.team!.target), 'postgres://audit@db.internal:6543/audit?sslmode=verify-full');
  const plain = parseConfig(`store: ./audit.db\n${CONNECTIONS}`, file, {});
  assert.equal(plain.team, undefined);
  assert.equal(plain.store, path.join(dir, 'audit.db'));
});

test('spool, the default gateway name and a password file', () => {
  const pw = path.join(dir, 'store.pw');
  fs.writeFileSync(pw, 'from-a-file\n', { mode: 0o600 });
  const c = parseConfig(
    `store: postgres://audit@db:5432/audit\nspool: ./spool/gw.db\nstore_password_file: ./store.pw\n${CONNECTIONS}`,
    file,
    {},
  );
  assert.equal(c.store, path.join(dir, 'spool', 'gw.db'));
  assert.equal(c.team?.target.password, 'from-a-file');
  assert.equal(c.team?.gateway, os.hostname());
});

test('team keys are checked with file:line:key errors that never show the password', () => {
  fails(
    `store: ./a.db\ngateway: x\n${CONNECTIONS}`,
    {},
    /bastion\.yaml:2: gateway: applies only with a postgres:\/\/ store/,
  );
  fails(`spool: ./s.db\n${CONNECTIONS}`, {}, /bastion\.yaml:1: spool: applies only/);
  fails(
    `store: postgres://audit@db/audit\ngateway: "no spaces"\n${CONNECTIONS}`,
    {},
    /:2: gateway: "no spaces" is not a valid/,
  );
  const msg = fails(
    `store: postgres://audit:hunter2-pw@db/audit?sslmode=bogus\n${CONNECTIONS}`,
    {},
    /bastion\.yaml:1: store: sslmode must be one of/,
  );
  assert.ok(!msg.includes('hunter2-pw'));
  fails(
    `store: postgres://audit:inline-pw@db/audit\nstore_password_file: ./store.pw\n${CONNECTIONS}`,
    {},
    /:2: store_password_file: the store URL already has a password/,
  );
  fails(
    `store: postgres://audit@db/audit\nstore_password_file: ./missing.pw\n${CONNECTIONS}`,
    {},
    /:2: store_password_file: cannot read it: ENOENT/,
  );
});
