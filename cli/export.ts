// `bastion export ID --out FILE [--store PATH]`: one session as a self-contained, verifiable file.
// `bastion import FILE [--json] [--replay] [--against STORE]`: opens such a file: verifies it on
// its own (and against its source store with --against), then shows the session like
// `bastion sessions show`, or with --replay prints every frame like `bastion replay`.
// Exit 0 if the file verified, 1 naming the first bad record.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { exportSession, openExport, verifyExport } from '../proxy/store/export.js';
import { openSqliteStore } from '../proxy/store/sqlite-store.js';
import { decodeFrame } from '../proxy/wire/decode.js';
import { parseArgs, str, UsageError } from './args.js';
import { findSession } from './sessions.js';
import { openStoreForReading, resolveStorePath } from './store-path.js';

export async function exportCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { store: 'string', config: 'string', out: 'string' });
  const [id, extra] = p.positional;
  if (!id) throw new UsageError('usage: bastion export ID --out FILE [--store PATH]');
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  const out = str(p, 'out');
  if (!out) throw new UsageError('export needs --out FILE');
  const store = openStoreForReading(p);
  try {
    const session = findSession(store, id);
    const r = exportSession(store, session.id, out, { label: resolveStorePath(p) });
    process.stdout.write(
      `exported session ${r.sessionId}: ${r.records} records (${r.statements} statements, ${r.frames} frames), ` +
        `sha256 ${r.sha256} -> ${r.file}\n`,
    );
  } finally {
    store.close();
  }
  return 0;
}

const iso = (us: number | null) => (us === null ? '-' : new Date(Math.floor(us / 1000)).toISOString());

export async function importCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { json: 'boolean', replay: 'boolean', against: 'string' });
  const [file, extra] = p.positional;
  if (!file) throw new UsageError('usage: bastion import FILE [--json] [--replay] [--against STORE]');
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  if (!existsSync(file)) throw new UsageError(`no file ${path.resolve(file)}`);
  let view: ReturnType<typeof openExport>;
  try {
    view = openExport(file);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const againstPath = str(p, 'against');
  if (againstPath !== undefined && !existsSync(againstPath))
    throw new UsageError(`no store at ${againstPath}`);
  const against = againstPath === undefined ? undefined : openSqliteStore(againstPath, { readonly: true });
  let v: ReturnType<typeof verifyExport>;
  try {
    v = verifyExport(file, against ? { against } : {});
  } finally {
    against?.close();
  }
  const s = view.session;
  if (p.flags.replay) {
    if (!v.ok)
      process.stderr.write(
        `bastion: warning: ${file} failed verification at record ${v.firstBad!.id}: ${v.firstBad!.reason}\n`,
      );
    for (const f of view.readFrames(s.id)) {
      const d = decodeFrame(f.dir, f.type, f.body);
      process.stdout.write(
        `${JSON.stringify({ seq: f.seq, t_us: f.tUs, dir: f.dir, type: d.type, decoded: d.decoded })}\n`,
      );
    }
  } else if (p.flags.json) {
    process.stdout.write(
      `${JSON.stringify({ verify: v, header: view.header, session: s, statements: view.listStatements(s.id) }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(
      v.ok
        ? `ok: ${v.records} records of session ${s.id} intact${v.matchedSource ? ' and matching the source store' : ''}\n`
        : `FAILED: record ${v.firstBad!.id}: ${v.firstBad!.reason}\n`,
    );
    process.stdout.write(
      `session ${s.id}  identity ${s.identity}  connection ${s.connection}  client ${s.clientAddress}\n` +
        `  started ${iso(s.startedAt)}  ended ${iso(s.endedAt)}${s.endReason ? ` (${s.endReason})` : ''}  ` +
        `${s.statements} statements\n  exported ${view.header.exportedAt} from ${view.header.source.label ?? 'a store'} ` +
        `(chain head ${view.header.source.head.digest ?? '-'} at record ${view.header.source.head.id})\n`,
    );
  }
  return v.ok ? 0 : 1;
}
