// The `cls-` adversarial cases (test/masking/adversarial/cases/classify.ts) run here on their own
// until the shared harness runs them: PostgreSQL 18 with the corpus's canary schema, a gateway
// with the built-in default policy, each case's SQL as a simple Query through it, and every value
// received searched for each canary's forms (the case's `reveal`, else data.ts defaultForms).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { CLASSIFY_CASES } from '../masking/adversarial/cases/classify.js';
import { canaries, defaultForms, schemaSql } from '../masking/adversarial/data.js';

let db: TestPostgres;
let gw: TestGateway;
let admin: pg.Client;

before(async () => {
  db = await startPostgres({ version: 18 });
  admin = new pg.Client(db.url);
  await admin.connect();
  // data.ts writes `ON DATABASE CURRENT_DATABASE`, which PostgreSQL reads as a database name.
  await admin.query(schemaSql(db.user).replace('CURRENT_DATABASE', `"${db.database}"`));
  gw = await startGateway(db);
});

after(async () => {
  await admin?.end();
  await gw?.stop();
  await db?.stop();
});

/** Every value of every row of every statement, as text. */
async function received(sqls: readonly string[]): Promise<string> {
  const c = new pg.Client(gw.target());
  await c.connect();
  try {
    const out: string[] = [];
    for (const sql of sqls) {
      const r = await c.query({ text: sql, rowMode: 'array' });
      for (const row of r.rows as unknown[][]) for (const v of row) out.push(JSON.stringify(v));
    }
    return out.join('\n');
  } finally {
    await c.end();
  }
}

/**
 * Known leaks, for the lineage part of issue 18: a column rule's `partial` strategy is applied to
 * a transformation of the column as if it were the column. A reversed email is often email-shaped
 * (tset.yranacksam@1284tsiuq.eoz), and partial keeps its "domain": the reversed local part. The
 * fix is lineage's (mask a derived output whole), not classification's.
 */
const KNOWN_LEAKS: Record<string, string> = {
  'cls-001': 'partial keeps the domain of an email-shaped transformation (lineage)',
  'cls-010': 'partial keeps the domain of an email-shaped transformation (lineage)',
  'cls-015': 'partial keeps the domain of an email-shaped transformation (lineage)',
};

for (const k of CLASSIFY_CASES) {
  test(`${k.id}: ${k.desc}`, { todo: KNOWN_LEAKS[k.id] }, async () => {
    if (k.setup) await admin.query(k.setup);
    try {
      const got = await received(k.sql ?? []);
      if (k.kind === 'control') {
        if (k.expect) assert.ok(got.includes(k.expect), `${k.expect} not in ${got}`);
        return;
      }
      for (const secret of canaries('dflt'))
        for (const form of (k.reveal ?? defaultForms)(secret))
          assert.ok(!got.includes(form), `${k.id} leaked ${form} in ${got}`);
    } finally {
      if (k.cleanup) await admin.query(k.cleanup);
    }
  });
}
