// `bastion verify`: exit 0 if the chain is intact, 1 naming the first bad record.

import type { VerifyResult } from '../shared/types.js';
import { parseArgs, UsageError } from './args.js';
import { openStoreForReading, resolveStorePath } from './store-path.js';

export async function verifyCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { store: 'string', config: 'string', json: 'boolean' });
  if (p.positional.length > 0) throw new UsageError(`unexpected argument "${p.positional[0]}"`);
  const store = openStoreForReading(p);
  try {
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
