// What a failed batch says about the shared store: away (retry soon, the store will be back) or
// refusing this batch's content (retrying soon will not help; somebody must look). Decided by the
// SQLSTATE class PostgreSQL sends; an error without one (a socket error, a timeout) is an outage.

/** SQLSTATE classes of a store that refuses what it was sent, not one that is away. */
const CONTENT_CLASSES = new Set([
  '22', // data exception: invalid byte sequence, value out of range, ...
  '23', // integrity constraint violation: CHECK, unique, not null, no partition for the row
  '42', // syntax error or access rule violation: a changed schema, a missing privilege
  '44', // WITH CHECK OPTION violation
  'P0', // raised by a trigger or function in the store (RAISE EXCEPTION)
]);

export type StoreFailure =
  | { kind: 'outage' }
  | { kind: 'content'; sqlstate: string }
  /** A partition the batch needs is missing (dropped by retention meanwhile): create it and go on. */
  | { kind: 'no-partition'; sqlstate: string };

export function sqlstateOf(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
}

/**
 * Connection and resource classes (08 connection exception, 57P operator intervention such as a
 * shutdown, 53 insufficient resources) and anything without a SQLSTATE are outages; the classes
 * above are content; anything else (a serialization failure, a lock timeout) is treated as an
 * outage too: retried soon, never skipped.
 */
export function classifyStoreError(e: unknown): StoreFailure {
  const sqlstate = sqlstateOf(e);
  if (sqlstate === null) return { kind: 'outage' };
  if (sqlstate === '23514' && /no partition of relation/i.test((e as Error).message ?? '')) {
    return { kind: 'no-partition', sqlstate };
  }
  return CONTENT_CLASSES.has(sqlstate.slice(0, 2)) ? { kind: 'content', sqlstate } : { kind: 'outage' };
}
