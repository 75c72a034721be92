// The policy editor's masking preview against a real PostgreSQL: only masked values come back,
// and only a plain read runs.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { CoreService } from '../../proxy/api/service.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let db: TestPostgres;
let gw: TestGateway;
let service: CoreService;

before(async () => {
  db = await startPostgres({ version: 18 });
  const admin = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
  });
  await admin.connect();
  await admin.query(`CREATE TABLE people (id int, name text, email text, tax text);
    INSERT INTO people VALUES (1, 'Ann', 'ann.private@example.net', '912-34-5678'), (2, 'Ben', 'ben.private@example.net', '923-45-6789');`);
  await admin.end();
  gw = await startGateway(db);
  service = new CoreService(gw.core, { persistence: null, operator: 'op', approvals: null });
});

after(async () => {
  service?.dispose();
  await gw?.stop();
  await db?.stop();
});

const YAML = `default:
  masking:
    - name: tax-ids
      columns: [public.people.tax]
      strategy: redact
    - name: detectors
      detect: [email]
      strategy: partial
`;

test('a SELECT previews masked by the unsaved rules, never raw', async () => {
  const r = await service.previewMasking(
    YAML,
    'app',
    'SELECT id, name, email, tax AS t FROM people ORDER BY id',
  );
  assert.equal(r.error, null);
  assert.deepEqual(r.columns, ['id', 'name', 'email', 't']);
  assert.equal(r.rows.length, 2);
  assert.deepEqual(
    r.rows.map((x) => x[1]),
    ['Ann', 'Ben'],
  );
  const text = JSON.stringify(r);
  for (const raw of ['ann.private@example.net', '912-34-5678', '923-45-6789'])
    assert.equal(text.includes(raw), false, raw);
  assert.equal(r.masked['tax-ids'], 2);
  assert.equal(r.masked.detectors, 2);
  // Without the column rule, the alias is no longer masked by it (the detectors do not know tax ids).
  const none = await service.previewMasking(
    'default:\n  masking: []\n',
    'app',
    'SELECT tax FROM people ORDER BY id',
  );
  assert.deepEqual(none.rows, [['912-34-5678'], ['923-45-6789']]);
});

test('anything but one plain read is refused; errors come back as text', async () => {
  for (const sql of [
    'DELETE FROM people',
    'SELECT 1; SELECT 2',
    'WITH d AS (DELETE FROM people RETURNING *) SELECT * FROM d',
  ]) {
    const r = await service.previewMasking(YAML, 'app', sql);
    assert.match(r.error ?? '', /SELECT/, sql);
    assert.equal(r.rows.length, 0);
  }
  const missing = await service.previewMasking(YAML, 'app', 'SELECT * FROM nowhere');
  assert.match(missing.error ?? '', /does not exist/);
  const bad = await service.previewMasking('default:\n  masking: [{ name: x }]\n', 'app', 'SELECT 1');
  assert.ok(bad.problems.length > 0);
  await assert.rejects(service.previewMasking(YAML, 'nope', 'SELECT 1'), /no connection/);
  const check = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
  });
  await check.connect();
  assert.equal((await check.query('SELECT count(*)::int AS n FROM people')).rows[0].n, 2);
  await check.end();
});
