// Planner statistics hold stored values: pg_stats.most_common_vals and histogram_bounds list the
// commonest values of a column (every email of a small table after ANALYZE), pg_statistic keeps
// them in stavalues1..5, extended statistics in pg_statistic_ext_data (pg_mcv_list_items() reads
// them) and pg_stats_ext / pg_stats_ext_exprs. One row of these describes some column of some
// table, named in other columns of the same row: a per-column plan cannot mask by row, so their
// value columns carry the strictest configured rule of the policy, whichever column a row is
// about (fail closed). Counts, fractions and names stay readable.

/** The statistics relations (all in pg_catalog) whose rows carry stored values. */
export const STATISTICS_RELATIONS: readonly string[] = [
  'pg_stats',
  'pg_stats_ext',
  'pg_stats_ext_exprs',
  'pg_statistic',
  'pg_statistic_ext_data',
];

const VALUE_COLUMNS = new Set([
  'most_common_vals',
  'histogram_bounds',
  'most_common_elems',
  'range_length_histogram',
  'range_bounds_histogram',
  'stavalues1',
  'stavalues2',
  'stavalues3',
  'stavalues4',
  'stavalues5',
  'stxdmcv',
  'stxdexpr',
]);

/** anyarray: a column of this type holds values of whatever column the row describes. */
const ANYARRAY = 2277;

/** True when a column of a statistics relation holds (or encodes) stored values. */
export function statisticsValueColumn(name: string, typeOid: number): boolean {
  return VALUE_COLUMNS.has(name) || typeOid === ANYARRAY;
}

/** oid, schema, name, relkind, attnum, attname, type oid, typmod of the statistics relations. */
export const STATISTICS_QUERY = `SELECT c.oid, n.nspname, c.relname, c.relkind, a.attnum, a.attname, a.atttypid, a.atttypmod
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = 'pg_catalog' AND c.relname IN (${STATISTICS_RELATIONS.map((r) => `'${r}'`).join(', ')})
ORDER BY c.oid, a.attnum`;
