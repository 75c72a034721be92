// The masking catalog: its queries, how rows become column rules (children and views too), the
// lineage resolver it gives, user types, and (re)loading.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { CATALOG_FINGERPRINT, catalogQueries, MaskCatalog, sqlLiteral } from '../../proxy/masking/catalog.js';
import { compileMasking } from '../../proxy/masking/compile.js';
import { outputLineage } from '../../proxy/masking/lineage.js';
import { typeKind } from '../../proxy/masking/pgtypes.js';
import { parseMaskingRules } from '../../proxy/masking/rules.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';

before(async () => {
  await initPolicyEngine();
});

const masking = compileMasking(
  parseMaskingRules(
    [
      { name: 'pii', columns: ['public.customers.email', "public.o'dd.x"], strategy: 'redact' },
      { name: 'cards', columns: ['customers.card'], strategy: 'partial' },
    ],
    'm',
  ),
  { hashKey: 'k'.repeat(32) },
);

const ROWS = {
  relations: [
    // oid, schema, name, relkind, root schema, root name, attnum, attname, type, typmod
    ['100', 'public', 'customers', 'r', 'public', 'customers', '1', 'id', '23', '-1'],
    ['100', 'public', 'customers', 'r', 'public', 'customers', '2', 'email', '25', '-1'],
    ['100', 'public', 'customers', 'r', 'public', 'customers', '3', 'card', '1043', '23'],
    ['101', 'public', 'customers_2024', 'r', 'public', 'customers', '1', 'id', '23', '-1'],
    ['101', 'public', 'customers_2024', 'r', 'public', 'customers', '3', 'email', '25', '-1'],
  ],
  views: [
    [
      '200',
      'public',
      'contacts',
      ' SELECT customers.id,\n    lower(customers.email) AS mail\n   FROM customers;',
    ],
  ],
  types: [
    ['16500', 'b', 'S', '0'],
    ['16501', 'e', 'E', '0'],
    ['16502', 'c', 'C', '0'],
    ['16503', 'b', 'A', '16500'],
  ],
};

describe('catalog queries', () => {
  test('literals survive any standard_conforming_strings, configured tables listed once', () => {
    assert.equal(sqlLiteral("o'd\\d"), "E'o''d\\\\d'");
    const q = catalogQueries(masking.columns);
    assert.match(
      q.relations ?? '',
      /VALUES \(E'public', E'customers'\), \(E'public', E'o''dd'\), \(NULL::text, E'customers'\)/,
    );
    assert.match(q.views ?? '', /pg_get_viewdef/);
    assert.match(q.views ?? '', /pg_rewrite/);
    assert.match(q.relations ?? '', /pg_inherits/);
    assert.match(q.functions, /pg_get_functiondef/);
    const none = catalogQueries([]);
    assert.equal(none.relations, null);
    // The views over the statistics relations, masked by the detectors' rule without column rules.
    assert.match(none.views ?? '', /'pg_stats'/);
    assert.equal(none.statistics !== null, true);
    assert.match(none.types, /typcategory/);
    // Without column rules the guardrails still need the bodies (a call counts as what it runs),
    // and which functions are extension members (known by name).
    assert.match(none.functions, /pg_get_functiondef/);
    assert.match(none.functions, /deptype = 'e'/);
    assert.match(none.functions, /prorettype/);
  });
});

describe('bound to a policy', () => {
  const cat = new MaskCatalog({ columns: masking.columns });
  cat.apply(ROWS);
  const b = cat.bind(masking);
  test('column rules by table OID and column number, children by their root, views by definition', () => {
    assert.equal(b.columnRule(100, 1), null);
    assert.equal(b.columnRule(100, 2)?.name, 'pii');
    assert.equal(b.columnRule(100, 3)?.name, 'cards');
    assert.equal(b.columnRule(101, 3)?.name, 'pii');
    assert.equal(b.columnRule(200, 2)?.name, 'pii');
    assert.equal(b.columnRule(200, 1), null);
    assert.equal(b.columnRule(999, 1), null);
  });
  test('resolver: tables with types and rules, views by definition', () => {
    const r = b.resolver.relation(null, 'customers');
    assert.equal(r?.kind, 'table');
    assert.deepEqual(r?.kind === 'table' && r.columns.map((c) => [c.name, c.typeOid, c.rule?.name ?? null]), [
      ['id', 23, null],
      ['email', 25, 'pii'],
      ['card', 1043, 'cards'],
    ]);
    assert.equal(b.resolver.relation('public', 'contacts')?.kind, 'view');
    assert.equal(b.resolver.relation('other', 'customers'), null);
    assert.deepEqual(
      outputLineage('SELECT * FROM contacts', b.resolver)?.map((c) => c.rule?.name ?? null),
      [null, 'pii'],
    );
  });
  test('user types', () => {
    assert.equal(typeKind(16500, b.userTypes), 'text');
    assert.equal(typeKind(16501, b.userTypes), 'enum');
    assert.equal(typeKind(16502, b.userTypes), 'record');
    assert.equal(typeKind(16503, b.userTypes), 'array');
    assert.equal(b.userTypes.element?.(16503), 16500);
    assert.equal(typeKind(16999, b.userTypes), 'opaque-text');
  });
  test('one binding per policy per load', () => {
    assert.equal(cat.bind(masking), b);
    cat.apply(ROWS);
    assert.notEqual(cat.bind(masking), b);
  });
});

describe('bound to objects, not names (binding.ts)', () => {
  // oid, schema, name, relkind, root schema, root name, attnum, attname, type, typmod, root oid
  const rel = (schema: string, name: string, cols: [number, string][], oid = '300') =>
    cols.map(([n, c]) => [oid, schema, name, 'r', schema, name, String(n), c, '25', '-1', oid]);
  const STATS = [
    ['2619', 'pg_catalog', 'pg_statistic', 'r', '1', 'starelid', '26', '-1'],
    ['2619', 'pg_catalog', 'pg_statistic', 'r', '2', 'stavalues1', '2277', '-1'],
    ['12000', 'pg_catalog', 'pg_stats', 'v', '1', 'attname', '19', '-1'],
    ['12000', 'pg_catalog', 'pg_stats', 'v', '2', 'histogram_bounds', '2277', '-1'],
  ];
  const m = compileMasking(
    parseMaskingRules(
      [
        { name: 'mail', columns: ['pii.customers.email'], strategy: 'redact' },
        { name: 'typo', columns: ['public.cusomers.emial'], strategy: 'hash' },
      ],
      'm',
    ),
    { hashKey: 'k'.repeat(32) },
  );
  test('a rename keeps the rule (OID + attnum); DROP + ADD re-binds by name; gone is reported once', () => {
    const logs: string[] = [];
    const cat = new MaskCatalog({ columns: m.columns, log: (x) => logs.push(x) });
    const load = (relations: string[][]) => {
      cat.apply({ relations, views: [], types: [], statistics: STATS });
      return cat.bind(m);
    };
    let b = load(
      rel('pii', 'customers', [
        [1, 'id'],
        [2, 'email'],
      ]),
    );
    assert.equal(b.columnRule(300, 2)?.name, 'mail');
    assert.deepEqual(cat.unbound, ['public.cusomers.emial']);
    assert.match(cat.queries.relations ?? '', /'\{300\}'::pg_catalog\.oid\[\]/, 'the bound OID is asked for');
    // Column, table and schema renamed: the rows now carry the new names.
    b = load(
      rel('h2', 'clients', [
        [1, 'id'],
        [2, 'e2'],
      ]),
    );
    assert.equal(b.columnRule(300, 2)?.name, 'mail');
    const r = b.resolver.relation('h2', 'clients');
    assert.deepEqual(r?.kind === 'table' && r.columns.map((c) => [c.name, c.rule?.name ?? null]), [
      ['id', null],
      ['e2', 'mail'],
    ]);
    assert.deepEqual(cat.boundTo({ schema: 'pii', table: 'customers', column: 'email' }), ['h2.clients.e2']);
    assert.ok(logs.some((l) => l.includes('pii.customers.email was renamed to h2.clients.e2')));
    // Two columns swap names: both masked while swapped; after swapping back, only the column
    // followed all along (not the one that had the name for a while).
    b = load(
      rel('pii', 'customers', [
        [1, 'email'],
        [2, 'id'],
      ]),
    );
    assert.equal(b.columnRule(300, 1)?.name, 'mail');
    assert.equal(b.columnRule(300, 2)?.name, 'mail');
    b = load(
      rel('pii', 'customers', [
        [1, 'id'],
        [2, 'email'],
      ]),
    );
    assert.equal(b.columnRule(300, 1), null);
    assert.equal(b.columnRule(300, 2)?.name, 'mail');
    // Dropped and added again under the configured name: a new attnum, bound by name, logged.
    b = load(
      rel('pii', 'customers', [
        [1, 'id'],
        [3, 'email'],
      ]),
    );
    assert.equal(b.columnRule(300, 3)?.name, 'mail');
    assert.ok(logs.some((l) => /column 2\) no longer exists; bound by name to column 3/.test(l)));
    // Gone: reported, logged once however many loads.
    load([]);
    load([]);
    assert.deepEqual(cat.unbound, ['pii.customers.email', 'public.cusomers.emial']);
    assert.equal(logs.filter((l) => l.includes('public.cusomers.emial names no column')).length, 1);
    assert.equal(logs.filter((l) => l.includes('pii.customers.email names no column')).length, 1);
  });
  test('statistics: value columns carry the strictest rule, by name and by OID; the rest stays clean', () => {
    const cat = new MaskCatalog({ columns: m.columns });
    cat.apply({
      relations: rel('pii', 'customers', [[2, 'email']]),
      views: [],
      types: [],
      statistics: STATS,
    });
    const b = cat.bind(m);
    const r = b.resolver.relation(null, 'pg_stats');
    assert.deepEqual(r?.kind === 'table' && r.columns.map((c) => [c.name, c.rule?.name ?? null]), [
      ['attname', null],
      ['histogram_bounds', 'mail'],
    ]);
    assert.equal(b.columnRule(2619, 2)?.name, 'mail');
    assert.equal(b.columnRule(2619, 1), null);
    assert.equal(b.resolver.relation('public', 'pg_stats'), null);
    // No column rule: nothing to mask them with (the detectors still run).
    const none = new MaskCatalog({ columns: [] });
    none.apply({ relations: [], views: [], types: [], statistics: STATS });
    assert.equal(none.bind(m).columnRule(2619, 2), null);
  });
});

describe('calls that may change the catalog unseen (callRisk)', () => {
  const def = (name: string, body: string) =>
    `CREATE OR REPLACE FUNCTION public.${name}()\n RETURNS void\n LANGUAGE plpgsql\n SECURITY DEFINER\nAS $function$ ${body} $function$\n`;
  const fn = (oid: number, name: string, body: string | null) => [
    String(oid),
    'public',
    name,
    '2278',
    'f',
    'f',
    body === null ? 'c' : 'plpgsql',
    't',
    body === null ? null : def(name, body),
    'f',
  ];
  const cat = new MaskCatalog({ columns: [] });
  cat.apply({
    relations: [],
    views: [],
    types: [],
    functions: [
      fn(17001, 'plain', 'BEGIN PERFORM upper(lower(numeric_col(1))); END'),
      fn(17002, 'renamer', "BEGIN EXECUTE 'ALTER TABLE t RENAME TO u'; END"),
      fn(17003, 'wrapper', 'BEGIN PERFORM renamer(); END'),
      fn(17004, 'native', null),
      [...fn(17005, 'st_area', null).slice(0, 9), 't'],
      [...fn(17006, 'dblink_exec', null).slice(0, 9), 't'],
    ],
  });
  const b = cat.bind(masking);
  test('built-ins none; EXECUTE / DDL, callers of those, unanalysable and unknown names behind', () => {
    assert.equal(b.callRisk(null, 'upper'), 'none');
    assert.equal(b.callRisk('pg_catalog', 'anything'), 'none');
    assert.equal(b.callRisk(null, 'plain'), 'none', 'SECURITY DEFINER in the header is not the body');
    assert.equal(b.callRisk('public', 'renamer'), 'behind');
    assert.equal(b.callRisk(null, 'wrapper'), 'behind');
    assert.equal(b.callRisk(null, 'native'), 'behind');
    assert.equal(b.callRisk(null, 'made_since_the_load'), 'behind');
    assert.equal(b.callRisk(null, 'st_area'), 'none', 'an extension member');
    assert.equal(b.callRisk(null, 'dblink_exec'), 'behind', 'runs SQL on another connection');
  });
});

describe('loading', () => {
  test('loads once, reloads after invalidate() or maxAgeMs, shares concurrent loads', async () => {
    let calls = 0;
    let now = 0;
    const cat = new MaskCatalog({
      columns: masking.columns,
      maxAgeMs: 1000,
      now: () => now,
      run: async (sql) => {
        calls++;
        await new Promise((r) => setTimeout(r, 5));
        if (sql.includes("'pg_stats'")) return [];
        if (sql.includes('pg_get_viewdef')) return ROWS.views;
        if (sql.includes('pg_attribute')) return ROWS.relations;
        if (sql.includes('pg_proc')) return [];
        return ROWS.types;
      },
    });
    assert.equal(cat.fresh, false);
    await Promise.all([cat.ensureLoaded(), cat.ensureLoaded()]);
    // The digest, relations, views, statistics relations, types, functions, and what names run
    // (policy/resolution.ts).
    assert.equal(calls, 7);
    assert.equal(cat.version, 1);
    assert.notEqual(cat.calls, null);
    await cat.ensureLoaded();
    assert.equal(calls, 7);
    cat.invalidate();
    await cat.ensureLoaded();
    assert.equal(cat.version, 2);
    now = 5000;
    assert.equal(cat.fresh, false);
    await cat.ensureLoaded();
    assert.equal(cat.version, 3);
  });
  test('verify(): asks only for the digest while it is unchanged, reloads when it changed', async () => {
    let digest = 'a';
    let now = 0;
    const asked: string[] = [];
    const cat = new MaskCatalog({
      columns: masking.columns,
      recheckMs: 1000,
      now: () => now,
      run: async (sql) => {
        asked.push(sql === CATALOG_FINGERPRINT ? 'digest' : 'load');
        if (sql === CATALOG_FINGERPRINT) return [[digest]];
        if (sql.includes('pg_get_viewdef')) return ROWS.views;
        if (sql.includes('pg_attribute')) return ROWS.relations;
        if (sql.includes('pg_proc')) return [];
        return ROWS.types;
      },
    });
    await cat.verify();
    assert.equal(cat.version, 1);
    asked.length = 0;
    await cat.verify();
    assert.deepEqual(asked, [], 'confirmed within recheckMs: nothing asked');
    await cat.verify({ force: true });
    assert.deepEqual(asked, ['digest'], "a session's start asks even within recheckMs");
    asked.length = 0;
    now = 2000;
    assert.equal(cat.fresh, false);
    await Promise.all([cat.verify(), cat.verify()]);
    assert.deepEqual(asked, ['digest'], 'one shared digest check, no reload');
    assert.equal(cat.version, 1);
    assert.equal(cat.fresh, true);
    now = 4000;
    digest = 'b';
    asked.length = 0;
    await cat.verify();
    assert.equal(asked[0], 'digest');
    assert.ok(asked.filter((a) => a === 'load').length >= 4, asked.join(' '));
    assert.equal(cat.version, 2, 'a changed digest reloads');
  });
  test('a failing load rejects and leaves the catalog stale', async () => {
    const cat = new MaskCatalog({
      columns: masking.columns,
      run: async () => {
        throw new Error('connection refused');
      },
    });
    await assert.rejects(cat.ensureLoaded(), /connection refused/);
    assert.equal(cat.fresh, false);
    assert.match(cat.lastError?.message ?? '', /refused/);
    await assert.rejects(new MaskCatalog({ columns: [] }).ensureLoaded(), /no query runner/);
  });
});
