// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} references are what this file tests.
// bastion.yaml (CONTRACT.md "Config file"): the contract's example parses to the expected shape,
// ${VAR}s come from the environment, and every fault is ONE line `FILE:LINE: key.path: message`
// naming the right line and key. Random text never throws anything but a ConfigError.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError, loadConfig, parseConfig } from '../../proxy/config/load.js';
import type { GatewayConfig } from '../../proxy/config/types.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../../proxy/wire/codes.js';

const FILE = '/etc/bastion/bastion.yaml';
const DIR = path.dirname(FILE);

/** CONTRACT.md's example, verbatim. */
const CONTRACT_EXAMPLE = `store: ./bastion.db                  # SQLite file (embedded default)
connections:
  - name: app                        # a database reachable through Bastion
    listen: 127.0.0.1:6432           # one listener per connection
    upstream: postgres://owner:\${APP_DB_PASSWORD}@127.0.0.1:5432/appdb?sslmode=prefer
    tls:                             # client-facing TLS; omitted = a self-signed cert made on first run
      cert: ./certs/gw.crt
      key: ./certs/gw.key
identities:
  - name: agent-1                    # the client logs in with user=agent-1
    password: \${AGENT1_SECRET}       # checked with SCRAM-SHA-256; never sent upstream
    connections: [app]
    policy: default                  # which policy applies (see below)
  - name: oidc                       # tokens instead of passwords
    oidc: { issuer: https://idp.example/, audience: bastion, identity_claim: sub }
    connections: [app]
policies:
  default:                           # omitted entirely = the built-in default policy
    read_only: false                 # true: every write is blocked, whatever the transaction state
    guardrails:                      # omitted = the built-in default guardrails
      - name: no-drop
        match: { kind: [drop, truncate] }
        action: block                # allow | warn | block | review
      - name: unbounded-writes
        match: { kind: [delete, update], where: absent }
        action: review
    masking:                         # omitted = the built-in default detectors
      - name: customer-pii
        columns: [public.customers.email, public.customers.ssn]
        strategy: redact             # redact | partial | hash | null
      - name: detectors
        detect: [email, credit_card, ssn, phone]
        strategy: partial
    approval_timeout: 120s
`;

const ENV = { APP_DB_PASSWORD: 'app-pw', AGENT1_SECRET: 'agent-one-secret' };

/** A small valid config; `extra` is appended (top-level keys). */
const minimal = (extra = '') =>
  `connections:
  - name: app
    listen: 127.0.0.1:6432
    upstream: postgres://owner:pw@db.internal:5432/appdb
${extra}`;

/** Asserts that parsing fails with exactly one line `FILE:LINE: KEY: ...` whose message matches. */
function fails(
  text: string,
  line: number,
  key: string,
  message: RegExp,
  env: NodeJS.ProcessEnv = ENV,
): string {
  let err: unknown;
  try {
    parseConfig(text, FILE, env);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
  const msg = err.message;
  assert.ok(!msg.includes('\n'), `not one line: ${JSON.stringify(msg)}`);
  const prefix = `${FILE}:${line}: ${key}: `;
  assert.ok(msg.startsWith(prefix), `expected "${prefix}...", got "${msg}"`);
  assert.match(msg.slice(prefix.length), message);
  return msg;
}

describe('valid configs', () => {
  test("the contract's example parses to the expected shape", () => {
    const c = parseConfig(CONTRACT_EXAMPLE, FILE, ENV);
    const expected: GatewayConfig = {
      file: FILE,
      store: path.join(DIR, 'bastion.db'),
      tlsDir: path.join(DIR, 'bastion-tls'),
      connections: [
        {
          name: 'app',
          listen: { host: '127.0.0.1', port: 6432 },
          upstream: {
            host: '127.0.0.1',
            port: 5432,
            user: 'owner',
            password: 'app-pw',
            database: 'appdb',
            sslmode: 'prefer',
            sslrootcert: null,
          },
          tls: { cert: path.join(DIR, 'certs/gw.crt'), key: path.join(DIR, 'certs/gw.key') },
        },
      ],
      identities: [
        {
          name: 'agent-1',
          password: 'agent-one-secret',
          oidc: null,
          connections: ['app'],
          policy: 'default',
        },
        {
          name: 'oidc',
          password: null,
          oidc: { issuer: 'https://idp.example/', audience: 'bastion', identityClaim: 'sub' },
          connections: ['app'],
          policy: 'default',
        },
      ],
      policies: {
        default: {
          read_only: false,
          guardrails: [
            { name: 'no-drop', match: { kind: ['drop', 'truncate'] }, action: 'block' },
            {
              name: 'unbounded-writes',
              match: { kind: ['delete', 'update'], where: 'absent' },
              action: 'review',
            },
          ],
          masking: [
            {
              name: 'customer-pii',
              columns: ['public.customers.email', 'public.customers.ssn'],
              strategy: 'redact',
            },
            { name: 'detectors', detect: ['email', 'credit_card', 'ssn', 'phone'], strategy: 'partial' },
          ],
          approval_timeout: '120s',
        },
      },
      limits: {
        maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE,
        captureLimit: 64 * 1024 * 1024,
        startupTimeoutMs: 30_000,
      },
    };
    assert.deepEqual(c, expected);
  });

  test('defaults: store ./bastion.db and bastion-tls/ next to the config file, sslmode prefer, port 5432, policy default', () => {
    const c = parseConfig(
      `connections:\n  - name: app\n    listen: 6432\n    upstream: postgres://owner@db\nidentities:\n  - name: a\n    password: x\n`,
      FILE,
      {},
    );
    assert.equal(c.store, path.join(DIR, 'bastion.db'));
    assert.equal(c.tlsDir, path.join(DIR, 'bastion-tls'));
    assert.deepEqual(c.connections[0].listen, { host: '127.0.0.1', port: 6432 });
    assert.deepEqual(c.connections[0].upstream, {
      host: 'db',
      port: 5432,
      user: 'owner',
      password: null,
      database: 'owner',
      sslmode: 'prefer',
      sslrootcert: null,
    });
    assert.equal(c.connections[0].tls, null);
    assert.deepEqual(c.identities[0], {
      name: 'a',
      password: 'x',
      oidc: null,
      connections: [],
      policy: 'default',
    });
    assert.deepEqual(c.policies, {});
  });

  test('listen: port 0 (any free port) and IPv6 addresses are accepted', () => {
    const c = parseConfig(
      `connections:
  - { name: a, listen: "127.0.0.1:0", upstream: "postgres://u@h/d" }
  - { name: b, listen: "127.0.0.1:0", upstream: "postgres://u@h/d" }
  - { name: c, listen: "[::1]:7000", upstream: "postgres://u@[::1]:5433/d?sslmode=verify-full&sslrootcert=ca.pem" }
`,
      FILE,
      {},
    );
    assert.deepEqual(
      c.connections.map((x) => x.listen),
      [
        { host: '127.0.0.1', port: 0 },
        { host: '127.0.0.1', port: 0 },
        { host: '::1', port: 7000 },
      ],
    );
    assert.equal(c.connections[2].upstream.host, '::1');
    assert.equal(c.connections[2].upstream.port, 5433);
    assert.equal(c.connections[2].upstream.sslmode, 'verify-full');
    assert.equal(c.connections[2].upstream.sslrootcert, path.join(DIR, 'ca.pem'));
  });

  test('limits: sizes and durations with units', () => {
    const c = parseConfig(
      minimal('limits:\n  max_message_size: 1 MiB\n  capture_limit: 64kb\n  startup_timeout: 1500ms\n'),
      FILE,
      {},
    );
    assert.deepEqual(c.limits, { maxMessageSize: 1024 * 1024, captureLimit: 64_000, startupTimeoutMs: 1500 });
    const d = parseConfig(
      minimal('limits:\n  max_message_size: 1GiB\n  capture_limit: 0\n  startup_timeout: 2m\n'),
      FILE,
      {},
    );
    assert.deepEqual(d.limits, { maxMessageSize: 1024 ** 3, captureLimit: 0, startupTimeoutMs: 120_000 });
  });
});

describe('${VAR} expansion', () => {
  test('an upstream password with @ / : and other URL specials survives expansion intact', () => {
    for (const pw of [
      'p@ss/w:rd',
      'a@b@c',
      '::',
      '//x',
      'p%41ss',
      'q?x=1&y#z',
      'it\'s "quoted" $',
      '${NOT_AGAIN}',
    ]) {
      const c = parseConfig(CONTRACT_EXAMPLE, FILE, { ...ENV, APP_DB_PASSWORD: pw });
      const u = c.connections[0].upstream;
      assert.deepEqual(
        {
          host: u.host,
          port: u.port,
          user: u.user,
          password: u.password,
          database: u.database,
          sslmode: u.sslmode,
        },
        { host: '127.0.0.1', port: 5432, user: 'owner', password: pw, database: 'appdb', sslmode: 'prefer' },
        `password ${JSON.stringify(pw)}`,
      );
    }
  });

  test('a %-encoded password in the URL itself is decoded; expanded values are not', () => {
    const c = parseConfig(minimal().replace('owner:pw@', 'owner:p%40ss%2Fw%3Ard@'), FILE, {});
    assert.equal(c.connections[0].upstream.password, 'p@ss/w:rd');
    const d = parseConfig(minimal().replace('owner:pw@', 'owner:${PW}@'), FILE, { PW: 'p%40' });
    assert.equal(d.connections[0].upstream.password, 'p%40');
  });

  test('variables expand anywhere in a value, in user, database, store and identity secrets', () => {
    const c = parseConfig(
      `store: \${DATA}/audit.db
connections:
  - name: app
    listen: 127.0.0.1:\${PORT}
    upstream: postgres://\${DB_USER}:\${DB_PW}@db:5432/\${DB_NAME}
identities:
  - name: a
    password: pre-\${SECRET}-post
    connections: [app]
`,
      FILE,
      {
        DATA: '/var/lib/bastion',
        PORT: '7001',
        DB_USER: 'svc',
        DB_PW: 'x:y@z',
        DB_NAME: 'prod',
        SECRET: 's',
      },
    );
    assert.equal(c.store, '/var/lib/bastion/audit.db');
    assert.equal(c.connections[0].listen.port, 7001);
    assert.equal(c.connections[0].upstream.user, 'svc');
    assert.equal(c.connections[0].upstream.password, 'x:y@z');
    assert.equal(c.connections[0].upstream.database, 'prod');
    assert.equal(c.identities[0].password, 'pre-s-post');
  });

  test('a missing variable names it, with the line and key that use it, never a value', () => {
    const msg = fails(CONTRACT_EXAMPLE, 11, 'identities[0].password', /AGENT1_SECRET is not set/, {
      APP_DB_PASSWORD: 'do-not-print',
    });
    assert.ok(!msg.includes('do-not-print'));
    fails(CONTRACT_EXAMPLE, 5, 'connections[0].upstream', /APP_DB_PASSWORD is not set/, {
      AGENT1_SECRET: 'x',
    });
  });

  test('loadConfig reads process.env by default and resolves paths against the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-config-'));
    try {
      const file = path.join(dir, 'bastion.yaml');
      fs.writeFileSync(file, CONTRACT_EXAMPLE);
      const saved = { a: process.env.APP_DB_PASSWORD, b: process.env.AGENT1_SECRET };
      process.env.APP_DB_PASSWORD = 'from-env:@/';
      process.env.AGENT1_SECRET = 'agent';
      try {
        const c = loadConfig(file);
        assert.equal(c.file, file);
        assert.equal(c.store, path.join(dir, 'bastion.db'));
        assert.equal(c.connections[0].tls?.cert, path.join(dir, 'certs/gw.crt'));
        assert.equal(c.connections[0].upstream.password, 'from-env:@/');
      } finally {
        for (const [k, v] of [
          ['APP_DB_PASSWORD', saved.a],
          ['AGENT1_SECRET', saved.b],
        ] as const) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
      const missing = path.join(dir, 'nope.yaml');
      assert.throws(
        () => loadConfig(missing),
        (e: Error) =>
          e instanceof ConfigError && e.message === `${missing}:1: cannot read the config file: ENOENT`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('errors: one line, FILE:LINE: key.path: message', () => {
  test('unknown top-level key', () => {
    fails(
      `store: x.db\nlistn: 1\n${minimal()}`,
      2,
      'listn',
      /unknown key \(expected one of: store, .*connections/,
    );
  });

  test('unknown key in a connection, in its tls, in an identity, in oidc, in limits', () => {
    fails(
      minimal().replace('    upstream', '    upstrem: x\n    upstream'),
      4,
      'connections[0].upstrem',
      /unknown key/,
    );
    fails(
      minimal().replace('    upstream', '    tls: {cert: a, key: b, ca: c}\n    upstream'),
      4,
      'connections[0].tls.ca',
      /unknown key/,
    );
    fails(
      minimal('identities:\n  - name: a\n    password: x\n    role: admin\n'),
      8,
      'identities[0].role',
      /unknown key/,
    );
    fails(
      minimal('identities:\n  - name: a\n    oidc:\n      issuer: i\n      audience: a\n      claim: sub\n'),
      10,
      'identities[0].oidc.claim',
      /unknown key/,
    );
    fails(minimal('limits:\n  max_mesage_size: 1MiB\n'), 6, 'limits.max_mesage_size', /unknown key/);
  });

  test('missing upstream, name, listen; no connections at all', () => {
    fails(
      'connections:\n  - name: app\n    listen: 127.0.0.1:6432\n',
      2,
      'connections[0].upstream',
      /is required/,
    );
    fails(
      `${minimal()}  - name: b\n    listen: 127.0.0.1:6433\n`,
      5,
      'connections[1].upstream',
      /is required/,
    );
    fails(
      'connections:\n  - listen: 127.0.0.1:1\n    upstream: postgres://u@h/d\n',
      2,
      'connections[0].name',
      /is required/,
    );
    fails(
      'connections:\n  - name: a\n    upstream: postgres://u@h/d\n',
      2,
      'connections[0].listen',
      /is required/,
    );
    fails('store: x.db\nconnections: []\n', 2, 'connections', /at least one connection/);
    fails('store: x.db\n', 1, 'connections', /at least one connection/);
  });

  test('bad listen', () => {
    for (const bad of ['localhost', '127.0.0.1:', '127.0.0.1:port', 'a:b:c', '1.2.3.4:123456']) {
      fails(
        minimal().replace('127.0.0.1:6432', JSON.stringify(bad)),
        3,
        'connections[0].listen',
        /host:port/,
      );
    }
    fails(minimal().replace('127.0.0.1:6432', '127.0.0.1:70000'), 3, 'connections[0].listen', /out of range/);
    fails(
      `${minimal()}  - name: b\n    listen: 127.0.0.1:6432\n    upstream: postgres://u@h/d\n`,
      6,
      'connections[1].listen',
      /used twice/,
    );
  });

  test('record_client_values: masked (the default) or clear; anything else names its line', () => {
    const at = (v: string) => minimal(`    record_client_values: ${v}\n`);
    assert.equal(parseConfig(minimal(), FILE, ENV).connections[0].recordClientValues, undefined);
    assert.equal(parseConfig(at('masked'), FILE, ENV).connections[0].recordClientValues, undefined);
    assert.equal(parseConfig(at('clear'), FILE, ENV).connections[0].recordClientValues, 'clear');
    for (const bad of ['plain', 'true', '"Clear"', '[clear]'])
      fails(at(bad), 5, 'connections[0].record_client_values', /expected masked or clear/);
  });

  test('bad upstream URL and sslmode', () => {
    fails(
      minimal().replace('/appdb', '/appdb?sslmode=always'),
      4,
      'connections[0].upstream',
      /sslmode must be one of/,
    );
    fails(
      minimal().replace('/appdb', '/appdb?sslmode='),
      4,
      'connections[0].upstream',
      /sslmode must be one of/,
    );
    fails(
      minimal().replace('/appdb', '/appdb?ssl=true'),
      4,
      'connections[0].upstream',
      /unsupported URL parameter "ssl"/,
    );
    fails(minimal().replace('postgres://', 'mysql://'), 4, 'connections[0].upstream', /postgres:\/\//);
    fails(minimal().replace(':5432', ':99999'), 4, 'connections[0].upstream', /./);
    fails(minimal().replace('owner:pw@', ''), 4, 'connections[0].upstream', /user/);
    const msg = fails(
      minimal().replace('owner:pw@', 'owner:hunter2@').replace('/appdb', '/%zz'),
      4,
      'connections[0].upstream',
      /escape/,
    );
    assert.ok(!msg.includes('hunter2'), 'an upstream error must not echo the password');
  });

  test('an identity referencing an unknown connection, an unknown policy', () => {
    fails(
      minimal('identities:\n  - name: a\n    password: x\n    connections:\n      - app\n      - ap\n'),
      10,
      'identities[0].connections[1]',
      /unknown connection "ap"/,
    );
    fails(
      minimal('identities:\n  - name: a\n    password: x\n    connections: app\n'),
      8,
      'identities[0].connections',
      /list/,
    );
    fails(
      minimal(
        'policies:\n  strict: {read_only: true}\nidentities:\n  - name: a\n    password: x\n    policy: strickt\n',
      ),
      10,
      'identities[0].policy',
      /unknown policy "strickt"/,
    );
    // Names an object's built-in properties have are not policies either.
    for (const name of ['toString', 'constructor', 'hasOwnProperty']) {
      fails(
        minimal(`identities:\n  - name: a\n    password: x\n    policy: ${name}\n`),
        8,
        'identities[0].policy',
        /unknown policy/,
      );
    }
    // A named policy that exists, and "default" even when not defined, are fine.
    const ok = parseConfig(
      minimal(
        'policies:\n  strict: {read_only: true}\nidentities:\n  - {name: a, password: x, policy: strict}\n  - {name: b, password: y}\n',
      ),
      FILE,
      {},
    );
    assert.deepEqual(
      ok.identities.map((i) => i.policy),
      ['strict', 'default'],
    );
  });

  test('duplicate names: connections, identities, keys', () => {
    fails(
      `${minimal()}  - name: app\n    listen: 127.0.0.1:6433\n    upstream: postgres://u@h/d\n`,
      5,
      'connections[1].name',
      /duplicate connection name "app"/,
    );
    fails(
      minimal(
        'identities:\n  - name: a\n    password: x\n  - name: b\n    password: y\n  - name: a\n    password: z\n',
      ),
      10,
      'identities[2].name',
      /duplicate identity "a"/,
    );
    fails(minimal('policies:\n  p: {}\n  p: {}\n'), 7, '(yaml)', /unique/);
  });

  test('identity with neither password nor oidc, both, an empty password, a bad name', () => {
    fails(
      minimal('identities:\n  - name: a\n    connections: [app]\n'),
      6,
      'identities[0]',
      /needs a password or oidc/,
    );
    fails(
      minimal('identities:\n  - name: a\n    password: x\n    oidc: {issuer: i, audience: b}\n'),
      6,
      'identities[0]',
      /both password and oidc/,
    );
    fails(minimal('identities:\n  - name: a\n    password: ""\n'), 7, 'identities[0].password', /empty/);
    fails(
      minimal('identities:\n  - name: a\n    password: ${EMPTY}\n'),
      7,
      'identities[0].password',
      /empty/,
      {
        EMPTY: '',
      },
    );
    fails(
      minimal('identities:\n  - name: "a b"\n    password: x\n'),
      6,
      'identities[0].name',
      /not a valid name/,
    );
    fails(
      minimal('identities:\n  - name: a\n    oidc: {issuer: i}\n'),
      7,
      'identities[0].oidc.audience',
      /is required/,
    );
  });

  test('limits with bad sizes and durations', () => {
    fails(minimal('limits:\n  max_message_size: lots\n'), 6, 'limits.max_message_size', /expected a size/);
    fails(
      minimal('limits:\n  max_message_size: 10 furlongs\n'),
      6,
      'limits.max_message_size',
      /expected a size/,
    );
    fails(
      minimal('limits:\n  max_message_size: 100\n'),
      6,
      'limits.max_message_size',
      /between 1 KiB and 1 GiB/,
    );
    fails(
      minimal('limits:\n  max_message_size: 2GiB\n'),
      6,
      'limits.max_message_size',
      /between 1 KiB and 1 GiB/,
    );
    fails(minimal('limits:\n  capture_limit: 1\n  capture_limit: 2\n'), 7, '(yaml)', /unique/);
    fails(
      minimal('limits:\n  startup_timeout: 1\n  capture_limit: -5MiB\n'),
      7,
      'limits.capture_limit',
      /expected a size/,
    );
    fails(minimal('limits:\n  startup_timeout: soon\n'), 6, 'limits.startup_timeout', /expected a duration/);
    fails(
      minimal('limits:\n  startup_timeout: 5 parsecs\n'),
      6,
      'limits.startup_timeout',
      /expected a duration/,
    );
    fails(minimal('limits:\n  startup_timeout: -1\n'), 6, 'limits.startup_timeout', /expected a duration/);
    fails(minimal('limits:\n  startup_timeout: [1]\n'), 6, 'limits.startup_timeout', /expected a duration/);
    fails(minimal('limits: 5\n'), 5, 'limits', /mapping/);
  });

  test('odd keys are shown quoted', () => {
    fails(`store: x.db\n"": 1\n${minimal()}`, 2, '""', /unknown key/);
    fails(`store: x.db\n"\\ufeffstore": 1\n${minimal()}`, 2, '"\ufeffstore"', /unknown key/);
    fails(`${minimal()}"a b": 1\n`, 5, '"a b"', /unknown key/);
    // Keys that look like key paths themselves (these once made the line lookup loop forever).
    fails(`${minimal()}store.: 1\n`, 5, '"store."', /unknown key/);
    fails(`${minimal()}"[": 1\n`, 5, '"["', /unknown key/);
    fails(`${minimal()}"connections[0]": 1\n`, 5, '"connections[0]"', /unknown key/);
    fails(
      minimal().replace('    listen', '    "]x": 1\n    listen'),
      3,
      'connections[0]."]x"',
      /unknown key/,
    );
    fails(minimal().replace('    listen', '    ".": 1\n    listen'), 3, 'connections[0]."."', /unknown key/);
  });

  test('wrong types: the key at fault, also at the top level', () => {
    fails(`store: true\n${minimal()}`, 1, 'store', /must be a string/);
    fails(`store: [a]\n${minimal()}`, 1, 'store', /must be a string/);
    fails('connections: {name: app}\n', 1, 'connections', /must be a list/);
    fails('connections:\n  - app\n', 2, 'connections[0]', /must be a mapping/);
    fails(minimal('identities: {a: 1}\n'), 5, 'identities', /must be a list/);
    fails(minimal('policies: [a]\n'), 5, 'policies', /must be a mapping/);
    fails('- a\n- b\n', 1, '(top level)', /must be a mapping/);
    fails('just text\n', 1, '(top level)', /must be a mapping/);
  });

  test('YAML syntax errors name their line', () => {
    fails(`${minimal()}identities:\n  - name: a\n   password: [\n`, 7, '(yaml)', /./);
    fails(minimal().replace('    listen', '\tlisten'), 3, '(yaml)', /[Tt]ab/);
    // A quote or bracket left open: the line where it was opened, not where the text ran out.
    fails(`store: "unterminated\n${minimal()}`, 1, '(yaml)', /quote/);
    fails(`${minimal()}identities:\n  - name: a\n    connections: [app\n    password: x\n`, 7, '(yaml)', /]/);
    fails(`${minimal()}---\nstore: x\n`, 5, '(yaml)', /multiple documents/);
    fails(`store: x.db\n\n\nconnections: *nowhere\n`, 4, '(yaml)', /alias/i);
  });

  test('an empty file, or one with only comments', () => {
    fails('', 1, '(top level)', /empty/);
    fails('# just a comment\n\n', 1, '(top level)', /empty/);
    fails('---\n', 1, '(top level)', /empty/);
  });
});

describe('property: nothing but ConfigError, always one line', () => {
  const KEYS = [
    'store',
    'tls_dir',
    'connections',
    'identities',
    'policies',
    'limits',
    'name',
    'listen',
    'upstream',
    'tls',
    'cert',
    'key',
    'password',
    'oidc',
    'issuer',
    'audience',
    'identity_claim',
    'policy',
    'max_message_size',
    'capture_limit',
    'startup_timeout',
    '__proto__',
    'constructor',
    'toString',
  ];
  const TOKENS = [
    ...KEYS,
    ...KEYS.map((k) => `${k}: `),
    ': ',
    ':',
    ' ',
    '  ',
    '\n',
    '\n  ',
    '\n    ',
    '- ',
    '-',
    '[',
    ']',
    '{',
    '}',
    ',',
    '"',
    "'",
    '#',
    '|',
    '>',
    '---',
    '...',
    '\t',
    '&a ',
    '*a',
    '*b',
    '!!str ',
    '!!int ',
    '!!binary ',
    '? ',
    '%YAML 1.1\n',
    '${',
    '}',
    '${X}',
    '${UNSET}',
    '0',
    '-1',
    '65536',
    '1e309',
    '0x10',
    'null',
    'true',
    '~',
    '.inf',
    '127.0.0.1:0',
    '[::1]:5',
    'postgres://u:p@h:5432/db?sslmode=require',
    'postgres://',
    '%zz',
    '64MiB',
    '120s',
    'app',
    '\u0000',
    '\uFEFF',
    'é',
    '\r\n',
  ];
  const yamlish = fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }).map((t) => t.join(''));

  /** A config-shaped value with random holes and junk, serialized as YAML, flow or block. */
  const junk = fc.oneof(
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string(), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS), fc.string(), { maxKeys: 3 }),
  );
  const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(fc.oneof(a, junk), { nil: undefined });
  const structured = fc
    .record(
      {
        store: maybe(fc.constantFrom('./x.db', '${X}/y.db', '${UNSET}')),
        connections: maybe(
          fc.array(
            fc.record(
              {
                name: maybe(fc.constantFrom('app', 'b', 'bad name', '')),
                listen: maybe(fc.constantFrom('127.0.0.1:0', '6432', 'host', '[::1]:1', '1.2.3.4:99999')),
                upstream: maybe(
                  fc.constantFrom(
                    'postgres://u:p@h/d',
                    'postgres://u:${X}@h:1/d?sslmode=disable',
                    'postgres://@h',
                    'postgres://u@h/d?sslmode=x',
                    'postgresql://u:%41@[::1]:5/d',
                  ),
                ),
                tls: maybe(fc.record({ cert: junk, key: junk }, { requiredKeys: [] })),
              },
              { requiredKeys: [] },
            ),
            { maxLength: 3 },
          ),
        ),
        identities: maybe(
          fc.array(
            fc.record(
              {
                name: maybe(fc.constantFrom('a', 'b', 'oidc')),
                password: maybe(fc.constantFrom('x', '${X}', '${UNSET}', '')),
                oidc: maybe(
                  fc.record({ issuer: junk, audience: junk, identity_claim: junk }, { requiredKeys: [] }),
                ),
                connections: maybe(fc.array(fc.constantFrom('app', 'b', 'c'), { maxLength: 3 })),
                policy: maybe(fc.constantFrom('default', 'p', 'toString', '__proto__')),
              },
              { requiredKeys: [] },
            ),
            { maxLength: 3 },
          ),
        ),
        policies: maybe(fc.dictionary(fc.constantFrom('p', 'default', 'q'), junk, { maxKeys: 2 })),
        limits: maybe(
          fc.record(
            {
              max_message_size: maybe(fc.constantFrom('1MiB', '1', 2048, '3 GiB', '1.5KiB')),
              capture_limit: maybe(fc.constantFrom(0, '64MiB', -1, 'x')),
              startup_timeout: maybe(fc.constantFrom('30s', 5, '1h', '-1s', 'ms')),
            },
            { requiredKeys: [] },
          ),
        ),
      },
      { requiredKeys: [] },
    )
    .chain((obj) =>
      fc
        .constantFrom<'block' | 'flow'>('block', 'flow')
        .map((style) => stringify(obj, { collectionStyle: style, lineWidth: 0 })),
    );

  // BASTION_FUZZ_RUNS=20 runs each property 20 times as long.
  const scale = Math.max(1, Number(process.env.BASTION_FUZZ_RUNS) || 1);

  function check(text: string): void {
    let config: GatewayConfig;
    try {
      config = parseConfig(text, FILE, { X: 'x-value' });
    } catch (e) {
      if (!(e instanceof ConfigError))
        throw new Error(`not a ConfigError: ${(e as Error)?.stack ?? String(e)}`);
      const lineCount = text.split('\n').length;
      const m = /^\/etc\/bastion\/bastion\.yaml:(\d+): (\S[^\n]*?): \S[^\n]*$/.exec(e.message);
      if (!m) throw new Error(`bad error line: ${JSON.stringify(e.message)}`);
      if (Number(m[1]) < 1 || Number(m[1]) > lineCount)
        throw new Error(`line ${m[1]} outside the text: ${e.message}`);
      return;
    }
    // Accepted: then it is well-formed.
    if (config.connections.length === 0) throw new Error('accepted without connections');
    for (const c of config.connections) {
      if (!(c.listen.port >= 0 && c.listen.port <= 65535)) throw new Error(`bad port ${c.listen.port}`);
      if (!c.upstream.user) throw new Error('accepted without an upstream user');
    }
    for (const i of config.identities) {
      if ((i.password === null) === (i.oidc === null))
        throw new Error(`identity ${i.name}: password xor oidc`);
      for (const c of i.connections) {
        if (!config.connections.some((x) => x.name === c))
          throw new Error(`unknown connection ${c} accepted`);
      }
    }
  }

  test('random YAML-ish token soup', () => {
    fc.assert(fc.property(yamlish, check), { numRuns: 3000 * scale });
  });

  test('random config-shaped documents', () => {
    fc.assert(fc.property(structured, check), { numRuns: 2000 * scale });
  });

  test('random unicode text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), check), { numRuns: 2000 * scale });
  });
});
