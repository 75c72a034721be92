// `bastion approvals list|approve ID|deny ID`: talks to the running `serve` of the same config
// through its control socket.

import os from 'node:os';
import { ApprovalError } from '../proxy/approvals/queue.js';
import { decideInSharedStore } from '../proxy/store/pg/decisions.js';
import { PgSessionStore } from '../proxy/store/pg/pg-store.js';
import { connectStore, type StoreTarget, storeError } from '../proxy/store/pg/target.js';
import { isStoreUrl } from '../proxy/store/pg/url.js';
import type { Approval } from '../shared/api.js';
import { ApiError } from '../shared/rpc.js';
import { type Parsed, parseArgs, str, UsageError } from './args.js';
import { controlCall, controlSocketPath } from './control.js';
import { resolveStorePath, sharedStoreTarget } from './store-path.js';

/** The approval queue's refusals of a decision (ApprovalError codes), as the gateway reports them. */
const APPROVAL_REFUSALS: ReadonlySet<string> = new Set(['not-found', 'not-pending', 'self-approval']);

const iso = (us: number | null) => (us === null ? '-' : new Date(Math.floor(us / 1000)).toISOString());

function describe(a: Approval): string {
  const left =
    a.state === 'pending'
      ? `  expires in ${Math.max(0, Math.round((a.expiresAt / 1000 - Date.now()) / 1000))}s`
      : '';
  const decided = a.decidedBy
    ? ` by ${a.decidedBy} at ${iso(a.decidedAt)}`
    : a.state !== 'pending'
      ? ` at ${iso(a.decidedAt)}`
      : '';
  return (
    `${a.id}  ${a.state}${decided}${left}\n  identity ${a.identity}  connection ${a.connection}  rule ${a.rule ?? '-'}  requested ${iso(a.requestedAt)}\n` +
    `  reason: ${a.reason}${a.clientReason ? `\n  client says: ${a.clientReason}` : ''}\n  sql: ${a.sql.replace(/\s+/g, ' ').slice(0, 500)}\n`
  );
}

export async function approvalsCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, {
    config: 'string',
    store: 'string',
    as: 'string',
    json: 'boolean',
    all: 'boolean',
  });
  const [sub, id, extra] = p.positional;
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  const explicit = str(p, 'store');
  // A shared store (team mode): read and decide there, whichever gateway holds the statement.
  const shared = explicit && isStoreUrl(explicit) ? sharedStoreTarget(p) : null;
  if (shared) return sharedApprovals(shared, sub, id, p);
  const socket = controlSocketPath(resolveStorePath(p));
  if (sub === 'list') {
    if (id !== undefined) throw new UsageError(`unexpected argument "${id}"`);
    const list = (await controlCall(socket, 'listApprovals', p.flags.all ? [] : ['pending'])) as Approval[];
    if (p.flags.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    else process.stdout.write(list.length === 0 ? 'no pending approvals\n' : list.map(describe).join('\n'));
    return 0;
  }
  if (sub === 'approve' || sub === 'deny') {
    if (!id) throw new UsageError(`approvals ${sub} needs an approval ID`);
    const by = str(p, 'as') ?? `cli:${os.userInfo().username}`;
    let a: Approval;
    try {
      a = (await controlCall(socket, 'decideApproval', [id, sub, by])) as Approval;
    } catch (e) {
      // The gateway's refusal of this decision (by its code, as the shared store's path does).
      if (e instanceof ApiError && APPROVAL_REFUSALS.has(e.code)) {
        process.stderr.write(`bastion: ${e.message}\n`);
        return 1;
      }
      throw e;
    }
    if (p.flags.json) process.stdout.write(`${JSON.stringify(a, null, 2)}\n`);
    else process.stdout.write(`${a.id} ${a.state} by ${a.decidedBy}\n`);
    return 0;
  }
  throw new UsageError('usage: bastion approvals list|approve ID|deny ID [--config FILE] [--as NAME]');
}

async function sharedApprovals(
  target: StoreTarget,
  sub: string | undefined,
  id: string | undefined,
  p: Parsed,
): Promise<number> {
  if (sub === 'list') {
    if (id !== undefined) throw new UsageError(`unexpected argument "${id}"`);
    let store: PgSessionStore;
    try {
      store = new PgSessionStore(target);
    } catch (e) {
      throw new UsageError((e as Error).message.split('\n')[0]);
    }
    try {
      const list = store.approvals(p.flags.all ? { limit: 1000 } : { state: 'pending', limit: 1000 });
      if (p.flags.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      else process.stdout.write(list.length === 0 ? 'no pending approvals\n' : list.map(describe).join('\n'));
    } finally {
      store.close();
    }
    return 0;
  }
  if (sub === 'approve' || sub === 'deny') {
    if (!id) throw new UsageError(`approvals ${sub} needs an approval ID`);
    const by = str(p, 'as') ?? `cli:${os.userInfo().username}`;
    let client: Awaited<ReturnType<typeof connectStore>>;
    try {
      client = await connectStore(target, 'bastion-cli');
    } catch (e) {
      throw new UsageError(storeError(target, e));
    }
    try {
      const a = await decideInSharedStore(client, id, sub, by);
      if (p.flags.json) process.stdout.write(`${JSON.stringify(a, null, 2)}\n`);
      else process.stdout.write(`${a.id} ${a.state} by ${a.decidedBy}\n`);
      return 0;
    } catch (e) {
      if (e instanceof ApprovalError) {
        process.stderr.write(`bastion: ${e.message}\n`);
        return 1;
      }
      throw e;
    } finally {
      await client.end().catch(() => {});
    }
  }
  throw new UsageError('usage: bastion approvals list|approve ID|deny ID --store postgres://... [--as NAME]');
}
