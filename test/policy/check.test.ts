// `bastion check`: one JSON object per statement, exit 0; bad arguments and bad configs exit 2
// with one line naming file, line and key. Runs checkCommand in a child process with the same
// error handling as cli/main.ts.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const checkModule = fileURLToPath(new URL('../../cli/check.js', import.meta.url));
const argsModule = fileURLToPath(new URL('../../cli/args.js', import.meta.url));
const loadModule = fileURLToPath(new URL('../../proxy/config/load.js', import.meta.url));

const WRAPPER = `
const { checkCommand } = await import(${JSON.stringify(checkModule)});
const { UsageError } = await import(${JSON.stringify(argsModule)});
const { ConfigError } = await import(${JSON.stringify(loadModule)});
try {
  process.exitCode = await checkCommand(process.argv.slice(1));
} catch (e) {
  console.error('bastion: ' + e.message);
  process.exitCode = e instanceof UsageError || e instanceof ConfigError ? 2 : 1;
}
`;

function check(args: string[], cwd = os.tmpdir()) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', WRAPPER, '--', ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 30_000,
  });
  const lines = r.stdout.split('\n').filter((l) => l.length > 0);
  return { code: r.status, lines, objects: lines.map((l) => JSON.parse(l)), stderr: r.stderr };
}

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-check-'));
}

describe('bastion check', () => {
  test('one JSON object per statement with the built-in default policy', () => {
    const r = check([
      '--sql',
      "SELECT 'DROP TABLE t'; DROP TABLE t; DELETE FROM t; SELECT pg_read_file('/etc/passwd')",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.objects.map((o) => [o.sql, o.action, o.rule]),
      [
        ["SELECT 'DROP TABLE t'", 'allow', null],
        ['DROP TABLE t', 'block', 'no-drop'],
        ['DELETE FROM t', 'review', 'unbounded-writes'],
        ["SELECT pg_read_file('/etc/passwd')", 'block', 'no-server-functions'],
      ],
    );
    for (const o of r.objects) {
      assert.deepEqual(Object.keys(o), ['sql', 'action', 'rule', 'reason']);
      assert.equal(typeof o.reason, 'string');
    }
  });

  test('--file: semicolons in strings, dollar quotes and function bodies do not split; PREPARE carries to EXECUTE', () => {
    const dir = tmpdir();
    const f = path.join(dir, 'q.sql');
    fs.writeFileSync(
      f,
      [
        "-- a script\nSELECT 'a;b';",
        'CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; DELETE FROM t; END $$;',
        'PREPARE p AS UPDATE t SET a = 1;',
        'EXECUTE p;',
        'SELEC oops;',
        'SELECT 2',
      ].join('\n'),
    );
    const r = check(['--file', f]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.objects.map((o) => o.action),
      ['allow', 'review', 'review', 'review', 'block', 'allow'],
    );
    assert.equal(r.objects[0].sql, "SELECT 'a;b'");
    assert.equal(r.objects[4].rule, 'unparseable');
  });

  test('a config policy, chosen through --identity', () => {
    const dir = tmpdir();
    const cfg = path.join(dir, 'bastion.yaml');
    fs.writeFileSync(
      cfg,
      `connections:
  - name: app
    listen: 127.0.0.1:0
    upstream: postgres://owner@127.0.0.1:5432/appdb
identities:
  - name: agent-1
    password: pw
    connections: [app]
    policy: strict
  - name: agent-2
    password: pw
    connections: [app]
policies:
  strict:
    read_only: true
    guardrails:
      - name: warn-customers
        match: { relation: [public.customers] }
        action: warn
`,
    );
    const strict = check([
      '--config',
      cfg,
      '--identity',
      'agent-1',
      '--sql',
      'commit; insert into t values (1); select * from customers',
    ]);
    assert.equal(strict.code, 0, strict.stderr);
    assert.deepEqual(
      strict.objects.map((o) => [o.action, o.rule]),
      [
        ['allow', null],
        ['block', 'read_only'],
        ['warn', 'warn-customers'],
      ],
    );
    const dflt = check(['--config', cfg, '--identity', 'agent-2', '--sql', 'insert into t values (1)']);
    assert.equal(dflt.objects[0].action, 'allow');
    // ./bastion.yaml is used when --config is not given.
    const cwdCfg = check(['--identity', 'agent-1', '--sql', 'insert into t values (1)'], dir);
    assert.equal(cwdCfg.objects[0].rule, 'read_only');
    const unknown = check(['--config', cfg, '--identity', 'nobody', '--sql', 'select 1']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no identity "nobody"/);
  });

  test('a bad policy is one line naming file, line and key; exit 2', () => {
    const dir = tmpdir();
    const cfg = path.join(dir, 'bad.yaml');
    fs.writeFileSync(
      cfg,
      `connections:
  - name: app
    listen: 127.0.0.1:0
    upstream: postgres://owner@127.0.0.1:5432/appdb
policies:
  default:
    guardrails:
      - name: a
        match: { kind: [drop] }
        action: deny
`,
    );
    const r = check(['--config', cfg, '--sql', 'select 1']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `${cfg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:10: policies\\.default\\.guardrails\\[0\\]\\.action: "deny" is not an action`,
      ),
    );
  });

  test('bad arguments exit 2 with one line', () => {
    for (const args of [
      [],
      ['--sql', 'x', '--file', 'y'],
      ['--sql'],
      ['--bogus', '1'],
      ['--sql', 'x', 'extra'],
      ['--file', '/nonexistent/q.sql'],
    ]) {
      const r = check(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.lines.length, 0);
    }
  });
});
