// The policy editor checks masking rule columns against the live catalog (issue 18): a misspelled
// column is a warning placed on its line of the YAML (validate and save), a correct one is not,
// and a column the gateway follows under a new name says so. Real PostgreSQL 18 behind a gateway.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { CoreService } from '../../proxy/api/service.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let db: TestPostgres;
let gw: TestGateway;
let service: CoreService;

before(async () => {
  db = await startPostgres({ version: 18 });
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query('CREATE TABLE public.customers (id int, email text)');
  await c.end();
  gw = await startGateway(db);
  service = new CoreService(gw.core, { persistence: null, operator: 'op', approvals: null });
});

after(async () => {
  service?.dispose();
  await gw?.stop();
  await db?.stop();
});

const TEXT = `default:
  masking:
    - name: contact
      columns:
        - public.customers.email
        - public.cusomers.emial
      strategy: redact
`;

describe('policy editor: masking rule targets against the live catalog', () => {
  test('validate and save: the misspelled column is a warning on its line; the real one is not', async () => {
    const problems = await service.validatePolicies(TEXT);
    assert.equal(problems.length, 1, JSON.stringify(problems));
    const [w] = problems;
    assert.equal(w.severity, 'warning');
    assert.equal(w.keyPath, 'default.masking[0].columns[1]');
    assert.equal(w.line, 6, 'the line of public.cusomers.emial');
    assert.ok(w.column > 1 && w.endColumn > w.column);
    assert.match(w.message, /no column public\.cusomers\.emial in the database of connection "app"/);
    // Saved (a warning does not refuse), and the warning comes back with the save.
    const saved = await service.savePolicies(TEXT, 'dana');
    assert.equal(saved.ok, true);
    assert.deepEqual(
      saved.problems.map((p) => p.keyPath),
      ['default.masking[0].columns[1]'],
    );
    assert.equal(gw.core.policies.get('default')?.masking.length, 1);
  });

  test('a column renamed on the server: followed, and the editor says to write the new name', async () => {
    // A session loads the catalog for the saved rules (binding the column by OID).
    const s = new pg.Client({ ...gw.target(), ssl: false });
    await s.connect();
    await s.query('SELECT 1');
    await s.end();
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query('ALTER TABLE public.customers RENAME COLUMN email TO mail');
    await c.end();
    const s2 = new pg.Client({ ...gw.target(), ssl: false });
    await s2.connect();
    await s2.query('SELECT 1');
    await s2.end();
    const problems = await service.validatePolicies(TEXT);
    const renamed = problems.find((p) => p.keyPath === 'default.masking[0].columns[0]');
    assert.match(renamed?.message ?? '', /renamed to public\.customers\.mail: still masked/);
    assert.equal(renamed?.line, 5);
  });
});
