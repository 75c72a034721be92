// Column lineage over many query shapes: which output columns read masked columns, through
// aliases, stars, views, subqueries, CTEs, set operations, functions, JSON builders, DML
// RETURNING, cursors, prepared statements and tables derived from masked data.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  functionLineage,
  type LineageResolver,
  LineageSession,
  lineageResolver,
  outputLineage,
  statementLineages,
  writeRefusal,
} from '../../proxy/masking/lineage.js';
import type { MaskRule } from '../../proxy/masking/rules.js';
import { initPolicyEngine } from '../../proxy/policy/parser.js';

before(async () => {
  await initPolicyEngine();
});

const PII: MaskRule = { name: 'pii', strategy: 'redact' };
const CARD: MaskRule = { name: 'card', strategy: 'partial' };
const TABLES: Record<string, [string, MaskRule | null][]> = {
  customers: [
    ['id', null],
    ['full_name', null],
    ['email', PII],
    ['ssn', PII],
    ['card_number', CARD],
    ['city', null],
  ],
};
const VIEWS: Record<string, string> = {
  customer_contacts: 'SELECT customers.id, customers.full_name, customers.email AS contact FROM customers;',
  contacts_of_contacts: 'SELECT c.id, upper(c.contact) AS shout FROM customer_contacts c;',
  loop_a: 'SELECT * FROM loop_b;',
  loop_b: 'SELECT * FROM loop_a;',
};
const resolve: LineageResolver = {
  relation(schema, name) {
    if (schema !== null && schema !== 'public') return null;
    if (VIEWS[name]) return { kind: 'view', definition: VIEWS[name] };
    const t = TABLES[name];
    return t
      ? { kind: 'table', columns: t.map(([n, rule]) => ({ name: n, rule, typeOid: n === 'id' ? 23 : 25 })) }
      : null;
  },
  // The strictest configured rule: what cannot be known carries it.
  anyRule: () => PII,
};

/** Rule names per output column ('-' for unmasked, '*' for an unknown-width star). */
function rules(sql: string, r = resolve): string[] {
  const l = outputLineage(sql, r);
  assert.ok(l, `no lineage for ${sql}`);
  return l.map((c) => (c.star ? `*${c.rule ? `:${c.rule.name}` : ''}` : (c.rule?.name ?? '-')));
}

const CASES: [string, string[]][] = [
  ['SELECT * FROM customers', ['-', '-', 'pii', 'pii', 'card', '-']],
  ['SELECT email AS e, upper(full_name), id FROM customers', ['pii', '-', '-']],
  ['SELECT c.email AS name FROM public.customers AS c', ['pii']],
  ['SELECT public.customers.ssn FROM public.customers', ['pii']],
  ['SELECT x.* FROM customers x', ['-', '-', 'pii', 'pii', 'card', '-']],
  ['SELECT * FROM customer_contacts', ['-', '-', 'pii']],
  ['SELECT shout FROM contacts_of_contacts', ['pii']],
  ['SELECT * FROM loop_a', ['*:pii']],
  ["SELECT x FROM (SELECT email || '!' AS x FROM customers) s", ['pii']],
  ['SELECT a FROM (SELECT email, city FROM customers) s(a, b)', ['pii']],
  ['WITH t AS (SELECT ssn AS s FROM customers) SELECT s, 1 FROM t', ['pii', '-']],
  ['WITH t(a) AS (SELECT card_number FROM customers) SELECT * FROM t', ['card']],
  ['SELECT email FROM customers UNION SELECT name FROM other', ['pii']],
  ['SELECT name FROM other UNION ALL SELECT email FROM customers', ['pii']],
  ['SELECT id FROM customers INTERSECT SELECT id FROM customers', ['-']],
  [
    "SELECT concat(full_name, email), format('%s', ssn), coalesce(city, email) FROM customers",
    ['pii', 'pii', 'pii'],
  ],
  [
    'SELECT email::varchar(10), CAST(ssn AS text), lower(email) COLLATE "C" FROM customers',
    ['pii', 'pii', 'pii'],
  ],
  [
    "SELECT CASE WHEN id > 1 THEN email ELSE 'x' END, CASE WHEN ssn IS NULL THEN 1 ELSE 0 END FROM customers",
    ['pii', '-'],
  ],
  [
    "SELECT count(email), count(*), max(email), string_agg(ssn, ','), array_agg(card_number) FROM customers",
    ['-', '-', 'pii', 'pii', 'card'],
  ],
  ['SELECT sum(length(email)) OVER (PARTITION BY city) FROM customers', ['pii']],
  [
    "SELECT (SELECT email FROM customers LIMIT 1), EXISTS (SELECT 1 FROM customers WHERE ssn = '1')",
    ['pii', '-'],
  ],
  ['SELECT ARRAY(SELECT ssn FROM customers)', ['pii']],
  ["SELECT c.id FROM customers c WHERE c.email LIKE '%x%' ORDER BY ssn", ['-']],
  ["SELECT greatest(email, city), nullif(ssn, '') FROM customers", ['pii', 'pii']],
  ['SELECT a.*, c.email FROM accounts a JOIN customers c ON a.cid = c.id', ['*', 'pii']],
  ['SELECT * FROM customers JOIN orders USING (id)', ['-', '-', 'pii', 'pii', 'card', '-', '*']],
  [
    'SELECT * FROM customers c1 JOIN customers c2 USING (email)',
    ['pii', '-', '-', 'pii', 'card', '-', '-', '-', 'pii', 'card', '-'],
  ],
  ['SELECT * FROM (customers JOIN orders o ON true) j', ['-', '-', 'pii', 'pii', 'card', '-', '*']],
  ['SELECT j.email FROM (customers JOIN orders o ON true) j', ['pii']],
  ['SELECT u.* FROM customers c, unnest(ARRAY[c.email, c.city]) AS u', ['*:pii']],
  ['SELECT u FROM customers c, LATERAL unnest(ARRAY[c.email]) AS u', ['pii']],
  ['SELECT x FROM customers c CROSS JOIN LATERAL (SELECT c.ssn AS x) s', ['pii']],
  ['SELECT r.* FROM customers c, jsonb_to_record(to_jsonb(c)) AS r(email text, city text)', ['pii', 'pii']],
  ["SELECT * FROM (VALUES (1, 'a')) v(a, b)", ['-', '-']],
  ['SELECT v.* FROM customers c, LATERAL (VALUES (c.email)) v(e)', ['pii']],
  ['TABLE customers', ['-', '-', 'pii', 'pii', 'card', '-']],
  ['SELECT row(email, id)::text FROM customers', ['pii']],
  ['SELECT (c).email FROM (SELECT c FROM customers c) s', ['pii']],
  ['SELECT (c).city FROM (SELECT c FROM customers c) s', ['-']],
  ["UPDATE customers SET city = 'x' WHERE id = 1 RETURNING id, email", ['-', 'pii']],
  ['DELETE FROM customers WHERE id = 1 RETURNING *', ['-', '-', 'pii', 'pii', 'card', '-']],
  ["INSERT INTO customers (full_name) VALUES ('x') RETURNING ssn", ['pii']],
  [
    "WITH RECURSIVE r(n, e) AS (SELECT 1, ''::text UNION ALL SELECT n + 1, (SELECT email FROM customers LIMIT 1) FROM r WHERE n < 3) SELECT * FROM r",
    ['-', 'pii'],
  ],
  ["SELECT id FROM customers WHERE id IN (SELECT id FROM customers WHERE ssn = 'x')", ['-']],
  ['SELECT DISTINCT ON (email) id FROM customers', ['-']],
  ['SELECT email FROM staging.customers', ['-']],
  ['SELECT xmlelement(name e, email) FROM customers', ['pii']],
];

describe('output lineage', () => {
  for (const [sql, want] of CASES) {
    test(sql, () => assert.deepEqual(rules(sql), want));
  }
});

describe('JSON builders mask only the keys that hold masked values', () => {
  const json = (sql: string) => {
    const l = outputLineage(sql, resolve) ?? [];
    return l.map((c) =>
      c.json ? Object.fromEntries([...c.json].map(([k, r]) => [k, r.name])) : (c.rule?.name ?? null),
    );
  };
  test('row_to_json / to_jsonb / json_agg of a row', () => {
    assert.deepEqual(json('SELECT row_to_json(c) FROM customers c'), [
      { email: 'pii', ssn: 'pii', card_number: 'card' },
    ]);
    assert.deepEqual(json('SELECT to_jsonb(c.*) FROM customers c'), [
      { email: 'pii', ssn: 'pii', card_number: 'card' },
    ]);
    assert.deepEqual(json('SELECT json_agg(t) FROM (SELECT id, email AS mail FROM customers) t'), [
      { mail: 'pii' },
    ]);
    assert.deepEqual(json('SELECT jsonb_agg(customers) FROM customers'), [
      { email: 'pii', ssn: 'pii', card_number: 'card' },
    ]);
  });
  test('json_build_object keys, nesting, arrays and aggregates', () => {
    assert.deepEqual(json("SELECT json_build_object('mail', email, 'n', full_name) FROM customers"), [
      { mail: 'pii' },
    ]);
    assert.deepEqual(json("SELECT jsonb_build_object('c', row_to_json(c), 'x', 1) FROM customers c"), [
      { email: 'pii', ssn: 'pii', card_number: 'card' },
    ]);
    assert.deepEqual(json('SELECT json_agg(email) FROM customers'), [{ '*': 'pii' }]);
    assert.deepEqual(json('SELECT json_build_array(id, ssn) FROM customers'), [{ '*': 'pii' }]);
    assert.deepEqual(json('SELECT jsonb_object_agg(id, email) FROM customers'), [{ '*': 'pii' }]);
    assert.deepEqual(json('SELECT jsonb_object_agg(email, id) FROM customers'), ['pii']);
  });
  test('field access', () => {
    assert.deepEqual(json("SELECT to_jsonb(c)->>'email', to_jsonb(c)->'card_number' FROM customers c"), [
      'pii',
      { '*': 'card' },
    ]);
    // Another key: masked keys might still sit inside it; the plan lets non-JSON scalars through.
    assert.deepEqual(json("SELECT to_jsonb(c)->>'city' FROM customers c"), [
      { email: 'pii', ssn: 'pii', card_number: 'card' },
    ]);
  });
  test('whole-row records carry per-field rules', () => {
    const l = outputLineage('SELECT c FROM customers c', resolve) ?? [];
    assert.deepEqual(
      l[0].record?.rules.map((r) => r?.name ?? null),
      [null, null, 'pii', 'pii', 'card', null],
    );
  });
});

describe('statements', () => {
  test('one lineage per statement; reads cover WHERE; DDL flagged', () => {
    const l = statementLineages(
      "SELECT id FROM customers WHERE ssn = '1'; SELECT 1; CREATE VIEW v AS SELECT 1",
      resolve,
    );
    assert.equal(l.length, 3);
    assert.deepEqual(
      l[0].columns?.map((c) => c.rule),
      [null],
    );
    assert.equal(l[0].reads?.name, 'pii');
    assert.equal(l[1].reads, null);
    assert.equal(l[2].ddl, true);
    assert.equal(l[0].ddl, false);
  });
  test('unparseable text: no lineage', () => {
    assert.deepEqual(statementLineages('SELEC nope', resolve), []);
  });
  test('COPY: options and columns', () => {
    const [a] = statementLineages('COPY customers (id, email) TO STDOUT WITH CSV HEADER', resolve);
    assert.equal(a.copy?.options.format, 'csv');
    assert.equal(a.copy?.options.header, true);
    assert.deepEqual(
      a.copy?.columns?.map((c) => c.rule?.name ?? null),
      [null, 'pii'],
    );
    const [b] = statementLineages(
      "COPY (SELECT ssn, id FROM customers) TO STDOUT (FORMAT binary, DELIMITER '|')",
      resolve,
    );
    assert.equal(b.copy?.options.format, 'binary');
    assert.deepEqual(
      b.copy?.columns?.map((c) => [c.rule?.name ?? null, c.typeOid]),
      [
        ['pii', 25],
        [null, 23],
      ],
    );
    const [c] = statementLineages(
      "COPY customers TO STDOUT (FORMAT csv, DELIMITER ';', NULL 'N', QUOTE '''')",
      resolve,
    );
    assert.deepEqual(
      [c.copy?.options.delimiter, c.copy?.options.null, c.copy?.options.quote, c.copy?.options.escape],
      [';', 'N', "'", "'"],
    );
    const [d] = statementLineages('COPY customers FROM STDIN', resolve);
    assert.equal(d.copy, null);
  });
  test('cursors and SQL prepared statements (per session)', () => {
    const s = new LineageSession();
    statementLineages('DECLARE cur CURSOR FOR SELECT ssn, id FROM customers', resolve, s);
    const [f] = statementLineages('FETCH 10 FROM cur', resolve, s);
    assert.deepEqual(
      f.columns?.map((c) => c.rule?.name ?? null),
      ['pii', null],
    );
    statementLineages('CLOSE cur', resolve, s);
    // A cursor the session never saw declared may hold anything masked: fail closed.
    assert.deepEqual(statementLineages('FETCH 10 FROM cur', resolve, s)[0].columns, [
      { name: null, rule: PII, star: true },
    ]);
    statementLineages('PREPARE p(int) AS SELECT email FROM customers WHERE id = $1', resolve, s);
    assert.deepEqual(
      statementLineages('EXECUTE p(1)', resolve, s)[0].columns?.map((c) => c.rule?.name),
      ['pii'],
    );
    statementLineages('DEALLOCATE ALL', resolve, s);
    assert.deepEqual(statementLineages('EXECUTE p(1)', resolve, s)[0].columns, [
      { name: null, rule: PII, star: true },
    ]);
  });
  test('relations derived from masked data stay masked in the session', () => {
    const s = new LineageSession();
    statementLineages('CREATE TEMP TABLE x AS SELECT email AS e, id FROM customers', resolve, s);
    assert.deepEqual(
      statementLineages('SELECT * FROM x', resolve, s)[0].columns?.map((c) => c.rule?.name ?? null),
      ['pii', null],
    );
    statementLineages('SELECT ssn INTO y FROM customers', resolve, s);
    assert.deepEqual(
      statementLineages('SELECT ssn FROM y', resolve, s)[0].columns?.map((c) => c.rule?.name ?? null),
      ['pii'],
    );
    statementLineages('CREATE VIEW v2 (a, b) AS SELECT id, card_number FROM customers', resolve, s);
    assert.deepEqual(
      statementLineages('SELECT b, a FROM v2', resolve, s)[0].columns?.map((c) => c.rule?.name ?? null),
      ['card', null],
    );
    statementLineages('INSERT INTO notes (body) SELECT email FROM customers', resolve, s);
    assert.deepEqual(
      statementLineages('SELECT body FROM notes', resolve, s)[0].columns?.map((c) => c.rule?.name ?? null),
      ['pii'],
    );
    statementLineages('UPDATE customers SET city = ssn', resolve, s);
    assert.deepEqual(
      statementLineages('SELECT city FROM customers', resolve, s)[0].columns?.map(
        (c) => c.rule?.name ?? null,
      ),
      ['pii'],
    );
    // Another session knows nothing of it.
    assert.deepEqual(
      statementLineages('SELECT city FROM customers', resolve)[0].columns?.map((c) => c.rule?.name ?? null),
      [null],
    );
  });
  test('the three-function resolver form', () => {
    const r = lineageResolver({
      masked: (_s, t, c) => (t === 'people' && c === 'mail' ? PII : null),
      viewDefinition: (_s, n) => (n === 'pv' ? 'SELECT people.mail AS m FROM people;' : null),
      tableColumns: (_s, t) => (t === 'people' ? ['id', 'mail'] : null),
    });
    assert.deepEqual(rules('SELECT * FROM people', r), ['-', 'pii']);
    assert.deepEqual(rules('SELECT m FROM pv', r), ['pii']);
  });
});

describe('what lineage does not model is masked (fail closed)', () => {
  const nested = (n: number, inner: string) => `${'1 + ('.repeat(n)}${inner}${')'.repeat(n)}`;
  const FAIL_CLOSED: [string, string[]][] = [
    // Attribute notation on a row is a function of the whole row.
    ['SELECT c.text FROM customers c', ['pii']],
    ['SELECT c.nosuch, c.id FROM customers c', ['pii', '-']],
    ['SELECT customers.row_to_json FROM customers', ['pii']],
    ['SELECT (c).nosuch FROM (SELECT c FROM customers c) s', ['pii']],
    // System columns reveal no value.
    ['SELECT c.ctid, c.tableoid, c.id FROM customers c', ['-', '-', '-']],
    // Past the expression depth limit: every masked column there is (was clean).
    [`SELECT ${nested(260, 'id')} FROM customers`, ['pii']],
    [`SELECT ${nested(10, 'id')} FROM customers`, ['-']],
    // Past the nesting limit of subqueries.
    [`SELECT ${'(SELECT '.repeat(70)}id${' FROM customers)'.repeat(70)}`, ['pii']],
    // A view chain past the view-depth limit (every view of it clean): fail closed.
    ['SELECT * FROM chain0', ['*:pii']],
    ['SELECT * FROM chain6', ['-']],
    // Data-dumping built-ins over what cannot be known.
    ["SELECT cursor_to_xml('nosuch', 10, false, false, '')", ['pii']],
    ["SELECT query_to_xml(current_setting('x.q'), false, false, '')", ['pii']],
  ];
  const CHAIN: Record<string, string> = {};
  for (let i = 0; i < 10; i++)
    CHAIN[`chain${i}`] = i === 9 ? 'SELECT id FROM customers;' : `SELECT * FROM chain${i + 1};`;
  const chained: LineageResolver = {
    ...resolve,
    relation: (schema, name) =>
      CHAIN[name] ? { kind: 'view', definition: CHAIN[name] } : resolve.relation(schema, name),
  };
  for (const [sql, want] of FAIL_CLOSED)
    test(sql.slice(0, 100), () => assert.deepEqual(rules(sql, chained), want));

  test('a record cast to text is masked whole; the record itself keeps its fields', () => {
    const [cast] = outputLineage('SELECT c::text FROM customers c', resolve) ?? [];
    assert.equal(cast.rule, PII);
    assert.equal(cast.record ?? null, null);
    const [row] = outputLineage('SELECT c FROM customers c', resolve) ?? [];
    assert.deepEqual(row.record?.rules, [null, null, PII, PII, CARD, null]);
  });
  test("FETCH from a cursor never declared (a function's refcursor): every masked column", () => {
    const s = new LineageSession();
    for (const q of ['FETCH ALL FROM "<unnamed portal 1>"', 'FETCH 1 FROM refcur']) {
      const [f] = statementLineages(q, resolve, s);
      assert.deepEqual(f.columns, [{ name: null, rule: PII, star: true }]);
    }
    assert.equal(statementLineages('MOVE 1 IN refcur', resolve, s)[0].columns, null);
  });
});

describe('masked data written into server state is refused', () => {
  // Analysed on first use (the parser is initialised in before()).
  const logit = () =>
    functionLineage(
      'CREATE FUNCTION logit(t text) RETURNS void LANGUAGE sql AS $$INSERT INTO notes (body) VALUES (t)$$',
      'sql',
      resolve,
    );
  const copier = () =>
    functionLineage(
      'CREATE FUNCTION copier() RETURNS void LANGUAGE plpgsql AS $$BEGIN INSERT INTO notes (body) SELECT ssn FROM customers; END$$',
      'plpgsql',
      resolve,
    );
  const withFns: LineageResolver = {
    ...resolve,
    function: (_s, n) => (n === 'logit' ? logit() : n === 'copier' ? copier() : null),
  };
  const REFUSED: [string, RegExp][] = [
    ['CREATE TABLE t AS SELECT email FROM customers', /copies masked column customers\.email into table t;/],
    [
      'CREATE TEMP TABLE t AS SELECT id, upper(ssn) FROM public.customers',
      /public\.customers\.ssn into table t/,
    ],
    ['SELECT ssn INTO y FROM customers', /into table y/],
    ['CREATE MATERIALIZED VIEW mv AS SELECT lower(email) FROM customers', /into materialized view mv/],
    ['INSERT INTO notes (body) SELECT email FROM customers', /customers\.email into notes\.body/],
    ['INSERT INTO notes VALUES ((SELECT email FROM customers LIMIT 1))', /into notes/],
    ['INSERT INTO customers (card_number) SELECT email FROM customers', /into customers\.card_number/],
    ['UPDATE customers SET city = ssn', /customers\.ssn into customers\.city/],
    ['UPDATE other o SET x = c.email FROM customers c WHERE o.id = c.id', /into other\.x/],
    [
      'MERGE INTO notes n USING customers c ON n.id = c.id WHEN MATCHED THEN UPDATE SET body = c.email',
      /into notes\.body/,
    ],
    [
      'MERGE INTO notes n USING customers c ON n.id = c.id WHEN NOT MATCHED THEN INSERT (id, body) VALUES (c.id, c.ssn)',
      /customers\.ssn into notes\.body/,
    ],
    [
      'INSERT INTO customers (id, email) SELECT id, email FROM customers ON CONFLICT (id) DO UPDATE SET city = excluded.email',
      /into customers\.city/,
    ],
    ['WITH w AS (INSERT INTO notes SELECT email FROM customers RETURNING 1) SELECT * FROM w', /into notes/],
    ["SELECT set_config('x.y', email, false) FROM customers", /into a setting \(set_config\)/],
    ["SELECT pg_notify('chan', ssn) FROM customers", /into a notification/],
    ["SELECT lo_from_bytea(0, convert_to(email, 'UTF8')) FROM customers", /into a large object/],
    ["SELECT lo_put(42, 0, convert_to(email, 'UTF8')) FROM customers", /into a large object/],
    ["SELECT setval('s', length(card_number)) FROM customers", /into a sequence/],
    ['SELECT pg_advisory_lock(hashtext(ssn)) FROM customers', /advisory lock/],
    [
      'CREATE TRIGGER tr AFTER INSERT ON customers FOR EACH ROW EXECUTE FUNCTION f()',
      /creates a trigger on customers/,
    ],
    ['CREATE RULE r AS ON UPDATE TO customers DO ALSO NOTIFY x', /creates a rule on customers/],
    ['CREATE POLICY p ON customers USING (true)', /row security policy on customers/],
    ['DO $$BEGIN INSERT INTO notes SELECT email FROM customers; END$$', /into notes/],
    [
      "DO $$BEGIN PERFORM set_config('a.b', (SELECT email FROM customers LIMIT 1), false); END$$",
      /into a setting/,
    ],
    ['PREPARE p AS INSERT INTO notes SELECT email FROM customers', /into notes/],
    ['EXPLAIN ANALYZE CREATE TABLE t AS SELECT ssn FROM customers', /into table t/],
    ['SELECT logit(email) FROM customers', /through function logit/],
    ['SELECT copier()', /customers\.ssn into notes\.body/],
  ];
  for (const [sql, want] of REFUSED)
    test(`refused: ${sql.slice(0, 90)}`, () => {
      const why = writeRefusal(sql, withFns, new LineageSession());
      assert.ok(why !== null, 'not refused');
      assert.match(why, want);
      assert.match(why, /masked values cannot leave through server state/);
    });
  const ALLOWED = [
    'SELECT email FROM customers',
    'CREATE TABLE t AS SELECT id, full_name FROM customers',
    'INSERT INTO notes (body) SELECT full_name FROM customers',
    'UPDATE customers SET email = lower(email)',
    'INSERT INTO customers (email) SELECT ssn FROM customers',
    'INSERT INTO customers (email) SELECT card_number FROM customers',
    "SELECT set_config('x.y', full_name, false) FROM customers",
    "SELECT pg_notify('chan', id::text) FROM customers WHERE email LIKE '%x'",
    'COPY (SELECT email FROM customers) TO STDOUT',
    'CREATE TRIGGER tr AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION f()',
    'CREATE VIEW v AS SELECT email FROM customers',
    'SELECT logit(full_name) FROM customers',
    'DO $$BEGIN UPDATE customers SET city = upper(city); END$$',
  ];
  for (const sql of ALLOWED)
    test(`allowed: ${sql.slice(0, 90)}`, () =>
      assert.equal(writeRefusal(sql, withFns, new LineageSession()), null));

  test('the check changes nothing of the session (cursors, prepared statements)', () => {
    const s = new LineageSession();
    writeRefusal('DECLARE cur CURSOR FOR SELECT id FROM customers; PREPARE p AS SELECT 1', resolve, s);
    assert.equal(s.cursors.get('cur'), undefined);
    assert.equal(s.prepared.get('p'), undefined);
  });
});
