// The policy editor's slice and its instant checks: the JSON-schema validator, YAML problems
// placed on the text, the gateway's checks, the preview, saving.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policiesSchema } from '../../proxy/api/policy-schema.js';
import { keyPathOf, type Schema, validate } from '../../renderer/src/state/json-schema.js';
import { isDirty, visibleProblems } from '../../renderer/src/state/policies.js';
import { policyTextProblems } from '../../renderer/src/state/policy-text.js';
import { createAppStore } from '../../renderer/src/state/store.js';
import { fakeApi } from './fake-api.js';

const schema = policiesSchema() as Schema;

const brief = (text: string) =>
  policyTextProblems(text, schema).map(
    (p) => `${p.line}:${p.column}-${p.endLine}:${p.endColumn} ${p.keyPath ?? ''} ${p.message}`,
  );

describe('JSON schema validator', () => {
  it('accepts what the gateway accepts', () => {
    const ok = {
      default: {
        read_only: false,
        guardrails: [
          'default',
          {
            name: 'no-salaries',
            match: { kind: ['select', 'UPDATE'], relation: 'salaries' },
            action: 'block',
            reason: 'no',
          },
          { name: 'reads', match: { writes: false, identity: ['agent-*'] }, action: 'allow' },
        ],
        masking: [
          'default',
          { name: 'pii', columns: ['public.customers.email'], strategy: 'hash' },
          { name: 'd', detect: 'email' },
        ],
        approval_timeout: '5m',
      },
      empty: null,
      strict: { read_only: true, read_only_functions: 'lower', approval_timeout: 30 },
    };
    assert.deepEqual(validate(schema, ok), []);
    assert.deepEqual(validate(schema, null), []);
  });

  it('names every problem with its path, in the gateway words', () => {
    const errs = validate(schema, {
      default: {
        guardrails: [
          { name: 'x', match: { kind: ['selec'] }, action: 'blok' },
          { name: 'y', match: { wher: 'absent' } },
          42,
        ],
        masking: [{ name: 'm' }, { name: 'n', columns: 'a.b', detect: 'email' }],
        approval_timeout: 'soon',
        extra: 1,
      },
      'bad name!': {},
    }).map((e) => `${keyPathOf(e.path)}${e.onKey ? ' (key)' : ''}: ${e.message}`);
    assert.deepEqual(errs, [
      'default.guardrails[0].match.kind[0]: "selec" is not one of: ' +
        'select, insert, update, delete, merge, truncate, drop, alter, create, grant, revoke, role, privilege, ' +
        'set_role, set_session_authorization, alter_system, copy, load, create_extension, do, call, explain, ' +
        'prepare, execute, deallocate, set, show, transaction, listen, notify, cursor, lock, vacuum, maintenance, ' +
        'comment, discard, builtin_override, safeguard_setting, function_call, unknown, unparseable',
      'default.guardrails[0].action: "blok" is not one of: allow, warn, block, review',
      'default.guardrails[1]: action is required',
      'default.guardrails[1].match.wher (key): unknown key (expected one of: kind, relation, where, function, identity, copy, writes)',
      'default.guardrails[2]: must be "default" or a mapping',
      'default.masking[0]: needs exactly one of columns or detect',
      'default.masking[1]: needs exactly one of columns or detect',
      'default.approval_timeout: "soon" does not have the expected form',
      'default.extra (key): unknown key (expected one of: read_only, read_only_functions, approval_timeout, guardrails, masking, classify)',
      'bad name! (key): "bad name!" is not a valid name (letters, digits, _ . -)',
    ]);
    assert.deepEqual(
      validate(schema, ['x']).map((e) => e.message),
      ['must be a mapping or empty'],
    );
  });
});

describe('policy text problems', () => {
  it('places YAML syntax errors', () => {
    const p = policyTextProblems('default:\n  guardrails: [\n', schema);
    assert.equal(p.length > 0, true);
    assert.equal(p[0]!.source, 'yaml');
    assert.equal(p[0]!.line >= 2, true);
    assert.doesNotMatch(p[0]!.message, /at line/);
  });

  it('underlines the value at fault, or the unknown key, on one line', () => {
    const text = [
      'default:', //                                   1
      '  guardrails:', //                              2
      '    - name: x', //                              3
      '      match: { kind: [select], wher: absent }', // 4
      '      action: blok', //                         5
      '  masking:', //                                 6
      '    - name: m', //                              7
      '      strategy: redact', //                     8
    ].join('\n');
    assert.deepEqual(brief(text), [
      '4:32-4:36 default.guardrails[0].match.wher unknown key (expected one of: kind, relation, where, function, identity, copy, writes)',
      '5:15-5:19 default.guardrails[0].action "blok" is not one of: allow, warn, block, review',
      '7:7-7:14 default.masking[0] needs exactly one of columns or detect',
    ]);
    assert.deepEqual(policyTextProblems('default:\n  guardrails:\n    - default\n', schema), []);
    assert.deepEqual(policyTextProblems('', schema), []);
    // Without a schema (not loaded yet), only the YAML is checked.
    assert.deepEqual(policyTextProblems('default: { read_only: maybe }', null), []);
  });
});

describe('policies slice', () => {
  it('loads, validates as you type, then asks the gateway; keeps an edit across a reload', async () => {
    const api = fakeApi();
    api.data.policies = {
      yaml: 'default:\n  read_only: false\n',
      schema: schema as Record<string, unknown>,
      identities: [{ name: 'agent-1', policy: 'default' }],
      history: [],
    };
    const store = createAppStore(api);
    const st = () => store.getState();
    await st().loadPolicies();
    assert.equal(st().policies.draft, 'default:\n  read_only: false\n');
    assert.equal(isDirty(st().policies), false);

    st().setPolicyDraft('default:\n  read_only: maybe\n');
    assert.equal(isDirty(st().policies), true);
    assert.deepEqual(
      visibleProblems(st().policies).map((p) => p.message),
      ['must be true or false'],
    );
    await st().validatePolicyDraft(); // skipped: the text already has problems
    assert.equal(api.calls.filter((c) => c.method === 'validatePolicies').length, 0);

    st().setPolicyDraft('default:\n  read_only: true\nstrict: {}\n');
    assert.deepEqual(visibleProblems(st().policies), []);
    api.data.validate = [
      {
        message: 'identity "x" uses policy "y"',
        keyPath: null,
        line: 1,
        column: 1,
        endLine: 1,
        endColumn: 2,
        severity: 'error',
        source: 'policy',
      },
    ];
    await st().validatePolicyDraft();
    assert.equal(visibleProblems(st().policies).length, 1);
    // Problems of another text are not shown for this one.
    st().setPolicyDraft('default:\n  read_only: true\n');
    assert.deepEqual(visibleProblems(st().policies), []);

    await st().loadPolicies();
    assert.equal(st().policies.draft, 'default:\n  read_only: true\n', 'the edit survives');
  });

  it('previews decisions on the draft and saves it', async () => {
    const api = fakeApi();
    api.data.policies = {
      yaml: 'default: {}\n',
      schema: schema as Record<string, unknown>,
      identities: [],
      history: [],
    };
    const store = createAppStore(api, { changedBy: 'dana' });
    const st = () => store.getState();
    await st().loadPolicies();
    st().setPolicyDraft('default:\n  read_only: true\n');
    st().setPolicyCheck({ sql: 'delete from t', identity: 'agent-1' });
    api.data.check = {
      problems: [],
      policy: 'default',
      statements: [
        {
          sql: 'delete from t',
          action: 'block',
          rule: 'read_only',
          reason: 'read-only',
          kind: 'delete',
          command: 'DELETE',
        },
      ],
    };
    await st().runPolicyCheck();
    assert.deepEqual(api.calls.at(-1), {
      method: 'checkPolicy',
      args: ['default:\n  read_only: true\n', 'delete from t', 'agent-1'],
    });
    assert.equal(st().policies.check.result?.statements[0]?.action, 'block');
    assert.equal(st().policies.check.resultFor, st().policies.draft);

    // Refused by the gateway: its problems show, nothing changes.
    api.data.save = {
      ok: false,
      problems: [
        {
          message: 'bad',
          keyPath: 'default',
          line: 1,
          column: 1,
          endLine: 1,
          endColumn: 8,
          severity: 'error',
          source: 'policy',
        },
      ],
      change: null,
      switchedSessions: 0,
    };
    assert.equal(await st().savePolicyDraft(), false);
    assert.equal(visibleProblems(st().policies)[0]?.message, 'bad');
    assert.equal(isDirty(st().policies), true);

    api.data.save = {
      ok: true,
      problems: [],
      change: { id: 7, at: 1, by: 'dana', summary: 'changed default', diff: '+x' },
      switchedSessions: 2,
    };
    assert.equal(await st().savePolicyDraft(), true);
    assert.deepEqual(api.calls.at(-1), {
      method: 'savePolicies',
      args: ['default:\n  read_only: true\n', 'dana'],
    });
    assert.equal(isDirty(st().policies), false);
    assert.equal(st().policies.history[0]?.id, 7);
    assert.equal(
      st().policies.switchedSessions,
      2,
      'the count of switched open sessions is kept for the toast',
    );

    // Saved with a warning (a masking rule naming no column of the databases): it stays on the
    // text, where the editor puts its markers.
    st().setPolicyDraft('default:\n  masking: [{name: m, columns: [public.cusomers.emial]}]\n');
    const warning = {
      message: 'no column public.cusomers.emial in the database of connection "app"',
      keyPath: 'default.masking[0].columns[0]',
      line: 2,
      column: 42,
      endLine: 2,
      endColumn: 63,
      severity: 'warning' as const,
      source: 'policy' as const,
    };
    api.data.save = { ok: true, problems: [warning], change: null, switchedSessions: 0 };
    assert.equal(await st().savePolicyDraft(), true);
    assert.deepEqual(visibleProblems(st().policies), [warning]);

    st().setPolicyDraft('default: [');
    assert.equal(await st().savePolicyDraft(), false);
    assert.match(st().policies.saveError ?? '', /Fix the/);
    st().revertPolicyDraft();
    assert.equal(st().policies.draft, 'default:\n  masking: [{name: m, columns: [public.cusomers.emial]}]\n');
  });
});
