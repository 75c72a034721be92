// Cases of the "catalog" part of issue 18 (rules bound to OIDs, renames, statistics views, prepared re-Parse). Filled in by that part; empty until then, imported by
// index.ts so that adding cases touches only this file.
//
// Renames are made by the owner (the superuser's setup, outside the gateway): the gateway's
// upstream user owns nothing, so it cannot rename. Every setup is undone by its cleanup.
import {
  bindMessage,
  executeMessage,
  parseMessage,
  queryMessage,
  syncMessage,
} from '../../../helpers/raw-client.js';
import type { MaskCase } from '../types.js';
import { caseMaker } from './make.js';

const { leak, control } = caseMaker('cat');

const RENAME_EMAIL = {
  setup: 'ALTER TABLE pii.customers RENAME COLUMN email TO e2',
  cleanup: 'ALTER TABLE pii.customers RENAME COLUMN e2 TO email',
};
const RENAME_ALL = {
  setup: `ALTER TABLE pii.customers RENAME COLUMN secret TO s2;
    ALTER TABLE pii.customers RENAME TO clients;
    ALTER SCHEMA pii RENAME TO p2;
    CREATE SCHEMA hid;
    GRANT USAGE ON SCHEMA hid TO mask_app;
    ALTER TABLE p2.clients SET SCHEMA hid`,
  cleanup: `ALTER TABLE hid.clients SET SCHEMA p2;
    DROP SCHEMA hid;
    ALTER SCHEMA p2 RENAME TO pii;
    ALTER TABLE pii.clients RENAME TO customers;
    ALTER TABLE pii.customers RENAME COLUMN s2 TO secret`,
};
const EXT_STATS = {
  setup: `CREATE STATISTICS pii.cat_mcv (mcv) ON email, ssn FROM pii.customers;
    CREATE STATISTICS pii.cat_expr ON lower(email), (card || '') FROM pii.customers;
    ANALYZE pii.customers`,
  cleanup: 'DROP STATISTICS IF EXISTS pii.cat_mcv, pii.cat_expr',
};

/** A raw session: every reply up to ReadyForQuery after each batch. */
async function batches(
  ctx: Parameters<NonNullable<MaskCase['custom']>>[0],
  ...sends: Buffer[]
): Promise<void> {
  const c = await ctx.login();
  try {
    for (const b of sends) {
      c.write(b);
      await c.readUntil('Z', 10_000);
    }
  } finally {
    c.socket.destroy();
  }
}
const parse = (name: string, sql: string) => Buffer.concat([parseMessage(name, sql), syncMessage()]);
const run = (statement: string) =>
  Buffer.concat([bindMessage('', statement, []), executeMessage(''), syncMessage()]);

export const CATALOG_CASES: MaskCase[] = [
  // ---- renames: the rule follows the column (OID + attnum), whatever it is called now --------
  leak(
    'renames',
    'column renamed by the owner, read through a function',
    'SELECT upper(e2), e2 || id FROM pii.customers',
    // rules: what the binding decides. dflt has no column rule to follow (email || id is no
    // longer an email a detector knows: the transforms class, not a rename).
    { ...RENAME_EMAIL, identities: ['rules'] },
  ),
  leak(
    'renames',
    'column renamed, whole row and row_to_json',
    ['SELECT c FROM pii.customers c', 'SELECT row_to_json(c) FROM pii.customers c'],
    RENAME_EMAIL,
  ),
  leak(
    'renames',
    'column, table, schema renamed and SET SCHEMA',
    ['SELECT s2, card FROM hid.clients', 'SELECT * FROM hid.clients', 'SELECT lower(s2) FROM hid.clients c'],
    RENAME_ALL,
  ),
  leak(
    'renames',
    'two columns swap names (full_name now holds the emails)',
    'SELECT full_name, upper(full_name) FROM pii.customers',
    {
      setup: `ALTER TABLE pii.customers RENAME COLUMN email TO tmpx;
      ALTER TABLE pii.customers RENAME COLUMN full_name TO email;
      ALTER TABLE pii.customers RENAME COLUMN tmpx TO full_name`,
      cleanup: `ALTER TABLE pii.customers RENAME COLUMN full_name TO tmpx;
      ALTER TABLE pii.customers RENAME COLUMN email TO full_name;
      ALTER TABLE pii.customers RENAME COLUMN tmpx TO email`,
    },
  ),
  leak('renames', 'a renamed numeric column in arithmetic', 'SELECT n + 0, n::text FROM pii.numbers', {
    setup: 'ALTER TABLE pii.numbers RENAME COLUMN ssn_num TO n',
    cleanup: 'ALTER TABLE pii.numbers RENAME COLUMN n TO ssn_num',
    // dflt: numbers are the types class (no detector sees a bare number), not a rename.
    identities: ['rules'],
  }),
  leak('renames', 'a view made after the rename, over the new name', 'SELECT lower(e2) FROM pii.cat_v', {
    setup: `${RENAME_EMAIL.setup}; CREATE VIEW pii.cat_v AS SELECT id, e2 FROM pii.customers; GRANT SELECT ON pii.cat_v TO mask_app`,
    cleanup: `DROP VIEW pii.cat_v; ${RENAME_EMAIL.cleanup}`,
  }),
  leak('renames', 'COPY of the renamed column', 'COPY (SELECT e2 FROM pii.customers) TO STDOUT', {
    ...RENAME_EMAIL,
    via: ['query'],
  }),
  // Renamed outside the gateway: until the catalog's digest check sees the rename, the unknown
  // relation carries every rule (fail closed), so full_name may come back masked for a moment;
  // the control asks only that the statement keeps working (no value expected).
  {
    ...control(
      'renames',
      'the clear columns of a renamed table stay readable',
      'SELECT full_name FROM hid.clients ORDER BY id',
      'Zoe Quist',
      RENAME_ALL,
    ),
    expect: undefined,
  },

  // ---- statistics: value columns of the statistics relations carry the strictest rule --------
  leak('statistics', 'pg_stats as a whole row', "SELECT s::text FROM pg_stats s WHERE schemaname = 'pii'"),
  leak(
    'statistics',
    'row_to_json of pg_stats',
    "SELECT row_to_json(s) FROM pg_stats s WHERE s.schemaname = 'pii'",
  ),
  leak(
    'statistics',
    'histogram elements unnested',
    "SELECT unnest(histogram_bounds::text::text[]) FROM pg_stats WHERE schemaname = 'pii'",
  ),
  leak('statistics', 'pg_stats through a subquery and a CTE', [
    "SELECT x.h FROM (SELECT histogram_bounds::text AS h FROM pg_catalog.pg_stats WHERE schemaname = 'pii') x",
    'WITH w AS (SELECT * FROM "pg_catalog"."pg_stats") SELECT histogram_bounds::text FROM w WHERE schemaname = \'pii\'',
  ]),
  leak(
    'statistics',
    'COPY of pg_stats',
    "COPY (SELECT histogram_bounds FROM pg_stats WHERE schemaname = 'pii') TO STDOUT",
    { via: ['query'] },
  ),
  leak(
    'statistics',
    'pg_stats_ext most common values (MCV statistics)',
    ['SELECT most_common_vals FROM pg_stats_ext', 'SELECT * FROM pg_stats_ext'],
    EXT_STATS,
  ),
  leak(
    'statistics',
    'pg_stats_ext_exprs (expression statistics)',
    [
      'SELECT most_common_vals::text, histogram_bounds::text FROM pg_stats_ext_exprs',
      'SELECT * FROM pg_stats_ext_exprs',
    ],
    EXT_STATS,
  ),
  leak(
    'statistics',
    'pg_mcv_list_items() of the extended statistics',
    'SELECT m.* FROM pg_statistic_ext_data d, pg_mcv_list_items(d.stxdmcv) m',
    EXT_STATS,
  ),
  leak('statistics', 'pg_statistic stavalues', 'SELECT stavalues1::text, stavalues2::text FROM pg_statistic'),
  leak('statistics', 'a view over pg_stats made by the owner', 'SELECT upper(h) FROM pii.cat_sv', {
    setup: `CREATE VIEW pii.cat_sv AS SELECT attname, histogram_bounds::text AS h FROM pg_stats WHERE schemaname = 'pii';
      GRANT SELECT ON pii.cat_sv TO mask_app`,
    cleanup: 'DROP VIEW pii.cat_sv',
  }),
  leak(
    'statistics',
    'a SQL function returning pg_stats values',
    ['SELECT pii.cat_sf()', 'SELECT * FROM pii.cat_sf()'],
    {
      setup: `CREATE FUNCTION pii.cat_sf() RETURNS SETOF text LANGUAGE sql AS
      'SELECT histogram_bounds::text FROM pg_stats WHERE schemaname = ''pii''';
      GRANT EXECUTE ON FUNCTION pii.cat_sf() TO mask_app`,
      cleanup: 'DROP FUNCTION pii.cat_sf()',
    },
  ),
  leak(
    'statistics',
    'statistics of a renamed table',
    "SELECT histogram_bounds::text FROM pg_stats WHERE tablename = 'clients'",
    RENAME_ALL,
  ),
  control(
    'statistics',
    'what the statistics are about stays readable',
    "SELECT attname, null_frac FROM pg_stats WHERE schemaname = 'pii' AND tablename = 'customers' ORDER BY 1",
    'full_name',
  ),

  // ---- prepared: what a name holds is what the server kept -----------------------------------
  leak('prepared', 'refused re-Parse (clear text) pipelined with the Bind of the masked statement', [], {
    custom: async (ctx) => {
      const c = await ctx.login();
      try {
        c.write(
          Buffer.concat([
            parse('cs', 'SELECT email, ssn, secret FROM pii.customers'),
            parse('cs', 'SELECT full_name FROM pii.customers'),
            run('cs'),
          ]),
        );
        for (let i = 0; i < 3; i++) await c.readUntil('Z', 10_000);
      } finally {
        c.socket.destroy();
      }
    },
  }),
  leak(
    'prepared',
    'SQL re-PREPARE refused, EXECUTE',
    [
      'PREPARE cp AS SELECT email, card FROM pii.customers',
      'PREPARE cp AS SELECT full_name FROM pii.customers',
      'EXECUTE cp',
    ],
    { via: ['query'] },
  ),
  leak(
    'prepared',
    'DEALLOCATE, then the name PREPAREd again with masked columns',
    [
      'PREPARE cd AS SELECT full_name FROM pii.customers',
      'DEALLOCATE cd',
      'PREPARE cd AS SELECT secret, phone FROM pii.customers',
      'EXECUTE cd',
    ],
    { via: ['query'] },
  ),
  leak('prepared', 'protocol Bind of a statement SQL PREPAREd', [], {
    custom: (ctx) =>
      batches(ctx, queryMessage('PREPARE cb AS SELECT ssn, card FROM pii.customers'), run('cb')),
  }),
  leak('prepared', 'DEALLOCATE ALL, then a protocol Parse of the same name reads masked columns', [], {
    custom: (ctx) =>
      batches(
        ctx,
        queryMessage('PREPARE ca AS SELECT full_name FROM pii.customers'),
        queryMessage('DEALLOCATE ALL'),
        parse('ca', 'SELECT email, secret FROM pii.customers'),
        run('ca'),
      ),
  }),
];
