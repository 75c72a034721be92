// The team keys for keeping data: `store_retention` (months dropped from the shared store) and
// `spool_keep` (how long shipped sessions stay in the spool); errors name file, line and key.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, parseConfig } from '../../proxy/config/load.js';

const CONNECTIONS = `connections:
  - name: app
    listen: 127.0.0.1:0
    upstream: postgres://owner@127.0.0.1:5432/appdb?sslmode=disable
`;
const TEAM = 'store: postgres://audit@db.internal/audit\n';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-team-retention-'));
const file = path.join(dir, 'bastion.yaml');

function fails(text: string, pattern: RegExp): void {
  try {
    parseConfig(text, file, {});
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, pattern);
    return;
  }
  assert.fail('the config was accepted');
}

test('store_retention and spool_keep are read as durations; the spool keeps a day by default', () => {
  const c = parseConfig(`${TEAM}store_retention: 90d\nspool_keep: 6h\n${CONNECTIONS}`, file, {});
  assert.equal(c.team?.storeRetentionMs, 90 * 86_400_000);
  assert.equal(c.team?.spoolKeepMs, 6 * 3_600_000);
  const plain = parseConfig(`${TEAM}${CONNECTIONS}`, file, {});
  assert.equal(plain.team?.storeRetentionMs, null);
  assert.equal(plain.team?.spoolKeepMs, 24 * 3_600_000);
  const forever = parseConfig(`${TEAM}spool_keep: forever\n${CONNECTIONS}`, file, {});
  assert.equal(forever.team?.spoolKeepMs, null);
});

test('bad values and team keys without a shared store fail with file:line: key', () => {
  fails(
    `${TEAM}store_retention: soon\n${CONNECTIONS}`,
    /bastion\.yaml:2: store_retention: expected a duration/,
  );
  fails(
    `${TEAM}store_retention: 0d\n${CONNECTIONS}`,
    /bastion\.yaml:2: store_retention: must be longer than 0/,
  );
  fails(
    `${TEAM}gateway: gw\nspool_keep: -1h\n${CONNECTIONS}`,
    /bastion\.yaml:3: spool_keep: expected a duration/,
  );
  fails(
    `${TEAM}spool_keep: 0s\n${CONNECTIONS}`,
    /bastion\.yaml:2: spool_keep: must be longer than 0 \(or forever\)/,
  );
  fails(
    `store: ./a.db\nstore_retention: 90d\n${CONNECTIONS}`,
    /bastion\.yaml:2: store_retention: applies only with a postgres:\/\/ store/,
  );
  fails(
    `spool_keep: 1d\n${CONNECTIONS}`,
    /bastion\.yaml:1: spool_keep: applies only with a postgres:\/\/ store/,
  );
});
