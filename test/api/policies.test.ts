// The policy editor's API (getPolicies, validatePolicies, checkPolicy, savePolicies,
// listPolicyChanges), the search and replay calls and exportReport, over a real AppCore (no
// upstream needed): problems placed on the YAML, changes recorded in the chain and applied to
// the core's policies, frames read back as wire bytes.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigPersistence, emptyAppConfig, loadAppConfig } from '../../proxy/api/app-config.js';
import { changeSummary, DEFAULT_POLICIES_YAML, readPolicies, unifiedDiff } from '../../proxy/api/policies.js';
import { CoreService } from '../../proxy/api/service.js';
import { MemoryVault } from '../../proxy/api/vault.js';
import type { IdentityConfig } from '../../proxy/config/types.js';
import { AppCore } from '../../proxy/core.js';
import { chunk, frame, session, statement } from '../store/fixtures.js';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

describe('policies YAML', () => {
  it('places every policy problem on its line and column, relative to the section', () => {
    const text = [
      '# comment', //                                  1
      'default:', //                                   2
      '  guardrails:', //                              3
      '    - name: ok', //                             4
      '      match: { kind: select }', //              5
      '      action: allow', //                        6
      '    - name: typo', //                           7
      '      match: { kind: [select] }', //            8
      '      action: blok', //                         9
      'strict:', //                                    10
      '  read_only: true', //                          11
      '  colour: blue', //                             12
    ].join('\n');
    const r = readPolicies(text);
    assert.equal(r.value, null);
    assert.deepEqual(
      r.problems.map((p) => [p.keyPath, p.line, p.column, p.endLine, p.endColumn, p.message]),
      [
        [
          'default.guardrails[1].action',
          9,
          15,
          9,
          19,
          '"blok" is not an action (expected one of: allow, warn, block, review)',
        ],
        [
          'strict.colour',
          12,
          3,
          12,
          9,
          'unknown key (expected one of: read_only, guardrails, masking, approval_timeout, read_only_functions, classify)',
        ],
      ],
    );
    assert.equal(r.problems[0]!.source, 'policy');
  });

  it('reports YAML syntax with positions, bad shapes, bad names and policies identities need', () => {
    const syntax = readPolicies('default:\n  guardrails: [\n');
    assert.equal(syntax.problems[0]!.source, 'yaml');
    assert.doesNotMatch(syntax.problems[0]!.message, /line \d+, column/);
    assert.equal(
      readPolicies('- a\n- b\n').problems[0]!.message,
      'must be a mapping of policy names to policies',
    );
    assert.match(readPolicies('"bad name": {}\n').problems[0]!.message, /not a policy name/);
    const ids: IdentityConfig[] = [
      { name: 'agent', password: 'x', oidc: null, connections: [], policy: 'strict' },
      { name: 'bot', password: 'x', oidc: null, connections: [], policy: 'default' },
    ];
    const missing = readPolicies('default: {}\n', ids);
    assert.deepEqual(
      missing.problems.map((p) => [p.message, p.keyPath]),
      [['identity "agent" uses policy "strict", which this text does not define', null]],
    );
    const fine = readPolicies('default: {}\nstrict:\n  read_only: true\n', ids);
    assert.deepEqual(fine.problems, []);
    assert.equal(fine.compiled?.get('strict')?.readOnly, true);
    // The starting text is valid and means the built-in default.
    const start = readPolicies(DEFAULT_POLICIES_YAML);
    assert.deepEqual(start.problems, []);
    assert.equal(
      start.compiled?.get('default')?.guardrails.length,
      start.compiled?.get('default')?.guardrails.length,
    );
    assert.deepEqual(readPolicies('').value, {});
  });

  it('describes a change: unified diff and summary', () => {
    assert.equal(unifiedDiff('a\nb\n', 'a\nb\n'), '');
    assert.equal(
      unifiedDiff('one\ntwo\nthree\n', 'one\n2\nthree\nfour\n', ['old', 'new']),
      '--- old\n+++ new\n@@ -1,3 +1,4 @@\n one\n-two\n+2\n three\n+four\n',
    );
    const long = Array.from({ length: 30 }, (_, i) => `line ${i}`);
    const changed = [...long];
    changed[2] = 'LINE 2';
    changed[25] = 'LINE 25';
    const d = unifiedDiff(`${long.join('\n')}\n`, `${changed.join('\n')}\n`);
    assert.deepEqual(
      d.split('\n').filter((l) => l.startsWith('@@')),
      ['@@ -1,6 +1,6 @@', '@@ -23,7 +23,7 @@'],
    );
    assert.equal(changeSummary({ a: 1, b: 2 }, { a: 1, b: 3, c: 1 }), 'changed b; added c');
    assert.equal(changeSummary({ a: 1, gone: 1 }, { a: 1 }), 'removed gone');
    assert.equal(changeSummary({ a: 1 }, { a: 1 }), 'no change to the policies (text only)');
  });
});

describe('CoreService: policies, search, replay, reports', () => {
  let dir: string;
  let core: AppCore;
  let service: CoreService;
  let persistence: ConfigPersistence;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-pol-'));
    const config = emptyAppConfig(path.join(dir, 'bastion.app.yaml'));
    config.identities.push({
      name: 'agent',
      password: 'agent-Secret-1',
      oidc: null,
      connections: [],
      policy: 'default',
    });
    core = new AppCore(config, quiet);
    await core.start({ tolerateListenerErrors: true });
    persistence = new ConfigPersistence(path.join(dir, 'bastion.app.yaml'), new MemoryVault());
    service = new CoreService(core, { persistence, operator: 'op', approvals: null });
    // A recorded session: frames and statements.
    const id = 'aaaa0000-0000-4000-8000-000000000001';
    core.store.append([
      { kind: 'session_open', session: session(id, { identity: 'agent', startedAt: 1_000_000 }) },
      chunk(id, 1, 'client', 0, [frame(0, Buffer.from('\x00\x03\x00\x00user\x00agent\x00\x00', 'latin1'))]),
      chunk(id, 2, 'client', 10, [frame(0x51, 'select email from customers\0')]),
      chunk(id, 3, 'server', 20, [frame(0x43, 'SELECT 0\0'), frame(0x5a, 'I')]),
      {
        kind: 'statement',
        statement: statement(id, 1, { sql: 'select email from customers', firstFrame: 2, lastFrame: 4 }),
      },
      {
        kind: 'statement',
        statement: statement(id, 2, {
          sql: 'drop table customers',
          decision: 'block',
          rule: 'no-drop',
          firstFrame: 5,
          lastFrame: 5,
        }),
      },
    ]);
  });

  after(async () => {
    service.dispose();
    await core.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts from the built-in default spelled out, with the schema and who uses what', async () => {
    const doc = await service.getPolicies();
    assert.equal(doc.yaml, DEFAULT_POLICIES_YAML);
    assert.equal((doc.schema as { title: string }).title, 'Bastion policies');
    assert.deepEqual(doc.identities, [{ name: 'agent', policy: 'default' }]);
    assert.deepEqual(doc.history, []);
  });

  it('checks SQL with unsaved text, as bastion check does', async () => {
    const text =
      'default:\n  guardrails:\n    - name: no-customers\n      match: { relation: [customers] }\n      action: review\n';
    const r = await service.checkPolicy(text, 'select 1; select * from customers; drop table t', 'agent');
    assert.deepEqual(
      r.statements.map((s) => [s.sql, s.action, s.rule]),
      [
        ['select 1', 'allow', null],
        ['select * from customers', 'review', 'no-customers'],
        ['drop table t', 'allow', null], // this text leaves out the built-in guardrails
      ],
    );
    assert.equal(r.policy, 'default');
    const bad = await service.checkPolicy('default: { read_only: maybe }', 'select 1');
    assert.equal(bad.statements.length, 0);
    assert.match(bad.problems[0]!.message, /must be true or false/);
    // Nothing was applied.
    assert.equal(core.policies.get('default')?.builtin, true);
    await assert.rejects(service.checkPolicy('', 'x', '../bad'), /not valid/);
  });

  it('validates, records, applies and persists a change; refuses a bad one', async () => {
    assert.deepEqual(await service.validatePolicies('default:\n  read_only: true\n'), []);
    const refused = await service.savePolicies('default:\n  read_only: yes please\n', 'dana');
    assert.equal(refused.ok, false);
    assert.equal(refused.problems[0]!.line, 2);
    assert.equal(core.policies.get('default')?.builtin, true);

    const text = '# Read only for everyone.\ndefault:\n  read_only: true\n';
    const saved = await service.savePolicies(text, 'dana');
    assert.equal(saved.ok, true);
    assert.equal(saved.change?.by, 'dana');
    assert.equal(saved.change?.summary, 'added default');
    assert.match(saved.change!.diff, /^\+ {2}read_only: true$/m);
    assert.match(saved.change!.diff, /^- {2}approval_timeout: 120s$/m);
    // Applied: the listeners' map holds the new policy.
    assert.equal(core.policies.get('default')?.readOnly, true);
    assert.deepEqual(core.config.policies, { default: { read_only: true } });
    // Persisted to the app config.
    const reloaded = loadAppConfig(persistence.file, persistence.vault);
    assert.deepEqual(reloaded.policies, { default: { read_only: true } });
    // Recorded in the chain, which still verifies; the editor gets the text back as saved.
    assert.equal((await service.verifyStore()).ok, true);
    assert.equal((await service.getPolicies()).yaml, text);
    assert.deepEqual(
      (await service.listPolicyChanges(10)).map((c) => c.by),
      ['dana'],
    );
    // The same text again: nothing to record. No name: the host's operator.
    assert.equal((await service.savePolicies(text, 'dana')).change, null);
    const again = await service.savePolicies('default:\n  read_only: false\n', '');
    assert.equal(again.change?.by, 'op');
    assert.equal(again.change?.summary, 'changed default');
    // A policy an identity uses cannot disappear.
    const gone = await service.savePolicies('strict: {}\n', 'dana');
    assert.equal(gone.ok, true, 'agent uses "default", which is always there');
    core.setIdentity({
      name: 'agent',
      password: 'agent-Secret-1',
      oidc: null,
      connections: [],
      policy: 'strict',
    });
    const orphan = await service.savePolicies('default: {}\n', 'dana');
    assert.equal(orphan.ok, false);
    assert.match(orphan.problems[0]!.message, /identity "agent" uses policy "strict"/);
  });

  it('finds sessions and statements, opens a replay and reads a frame as wire bytes', async () => {
    const found = await service.searchSessions({ text: 'customers', hasBlocked: true });
    assert.equal(found.sessions.length, 1);
    assert.equal(found.sessions[0]!.match?.seq, 2);
    await assert.rejects(
      service.searchSessions({ hasBlocked: 'yes' as unknown as boolean }),
      /hasBlocked must be true or false/,
    );
    await assert.rejects(service.searchSessions({ limit: 100_000 }), /limit/);
    const st = await service.searchStatements('email', 10, 0);
    assert.deepEqual(
      st.statements.map((s) => [s.seq, s.identity]),
      [[1, 'agent']],
    );
    const replay = await service.openReplay('aaaa0000');
    assert.equal(replay?.frames, 4);
    assert.deepEqual(replay?.marks, [1, 2, 4, 0, 2, 5, 5, 1]);
    assert.equal(await service.openReplay('ffff'), null);
    assert.deepEqual(
      (await service.statementsPage(replay!.session.id, 2, 10)).map((s) => s.rule),
      ['no-drop'],
    );
    const q = await service.readFrameBytes(replay!.session.id, 2);
    assert.deepEqual(q, {
      seq: 2,
      dir: 'client',
      type: 'Query',
      hex: frame(0x51, 'select email from customers\0').toString('hex'),
      length: 33,
      truncated: false,
    });
    const startup = await service.readFrameBytes(replay!.session.id, 1);
    assert.equal(startup?.type, 'StartupMessage');
    assert.equal(startup?.hex.slice(0, 8), startup!.length.toString(16).padStart(8, '0'));
    assert.equal(await service.readFrameBytes(replay!.session.id, 99), null);
  });

  it('exports a report in each format', async () => {
    const json = await service.exportReport({ format: 'json', identity: 'agent' });
    assert.match(json.fileName, /^bastion-report-\d{8}-\d{6}\.json$/);
    assert.equal(json.mime, 'application/json');
    const report = JSON.parse(Buffer.from(json.base64, 'base64').toString('utf8')) as {
      summary: { statements: number };
    };
    assert.equal(report.summary.statements, 2);
    assert.equal(json.summary.blocked, 1);
    assert.equal(json.summary.verified, true);
    const csv = await service.exportReport({ format: 'csv' });
    assert.match(Buffer.from(csv.base64, 'base64').toString('utf8'), /drop table customers/);
    const pdf = await service.exportReport({ format: 'pdf' });
    assert.equal(Buffer.from(pdf.base64, 'base64').subarray(0, 5).toString('latin1'), '%PDF-');
    await assert.rejects(service.exportReport({ format: 'doc' as 'pdf' }), /format must be/);
    await assert.rejects(
      service.exportReport({ format: 'json', since: 10, until: 5 }),
      /since is after until/,
    );
  });
});
