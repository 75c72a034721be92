// `bastion verify`: exit 0 if the chain is intact, 1 naming the first bad record.

import { PgSessionStore } from '../proxy/store/pg/pg-store.js';
import type { VerifyResult } from '../shared/types.js';
import { parseArgs, UsageError } from './args.js';
import { openStoreForReading, resolveStorePath } from './store-path.js';

export async function verifyCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { store: 'string', config: 'string', json: 'boolean' });
  if (p.positional.length > 0) throw new UsageError(`unexpected argument "${p.positional[0]}"`);
  const store = openStoreForReading(p);
  try {
    if (store instanceof PgSessionStore) return verifyShared(store, p.flags.json === true);
    let r: VerifyResult;
    try {
      r = store.verify();
    } catch (e) {
      // A store damaged below the chain (SQLite pages) cannot be vouched for either.
      const reason = `the store cannot be read: ${(e as Error).message.split('\n')[0]}`;
      if (p.flags.json) process.stdout.write(`${JSON.stringify({ ok: false, error: reason })}\n`);
      else process.stdout.write(`FAILED: ${reason}\n`);
      return 1;
    }
    if (p.flags.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else if (r.ok) {
      process.stdout.write(
        `ok: ${r.records} records intact in ${resolveStorePath(p)}; chain head ${r.head ?? '(empty)'}\n`,
      );
    } else {
      process.stdout.write(
        `FAILED: record ${r.firstBad!.id}: ${r.firstBad!.reason} (${r.records} records checked before it)\n`,
      );
    }
    return r.ok ? 0 : 1;
  } finally {
    store.close();
  }
}

/** The shared store: every gateway's chain on its own; exit 1 naming each gateway that fails. */
function verifyShared(store: PgSessionStore, json: boolean): number {
  let results: ReturnType<PgSessionStore['verifyGateways']>;
  try {
    results = store.verifyGateways();
  } catch (e) {
    const reason = `the store cannot be read: ${(e as Error).message.split('\n')[0]}`;
    process.stdout.write(json ? `${JSON.stringify({ ok: false, error: reason })}\n` : `FAILED: ${reason}\n`);
    return 1;
  }
  const ok = results.every((r) => r.ok);
  if (json) {
    process.stdout.write(`${JSON.stringify({ ok, store: store.path, gateways: results })}\n`);
    return ok ? 0 : 1;
  }
  if (results.length === 0) process.stdout.write(`ok: no gateway has shipped to ${store.path} yet\n`);
  for (const r of results) {
    process.stdout.write(
      r.ok
        ? `ok: gateway "${r.gateway}": ${r.records} records intact; chain head ${r.head ?? '(empty)'}\n`
        : `FAILED: gateway "${r.gateway}": record ${r.firstBad!.id}: ${r.firstBad!.reason} (${r.records} records checked before it)\n`,
    );
  }
  return ok ? 0 : 1;
}
