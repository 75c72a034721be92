// `bastion approvals list|approve ID|deny ID`: talks to the running `serve` of the same config
// through its control socket.

import os from 'node:os';
import type { Approval } from '../shared/api.js';
import { parseArgs, str, UsageError } from './args.js';
import { controlCall, controlSocketPath } from './control.js';
import { resolveStorePath } from './store-path.js';

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
    const a = (await controlCall(socket, 'decideApproval', [id, sub, by])) as Approval;
    if (p.flags.json) process.stdout.write(`${JSON.stringify(a, null, 2)}\n`);
    else process.stdout.write(`${a.id} ${a.state} by ${a.decidedBy}\n`);
    return 0;
  }
  throw new UsageError('usage: bastion approvals list|approve ID|deny ID [--config FILE] [--as NAME]');
}
