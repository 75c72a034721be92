// `bastion sessions list|show`.

import type { SessionInfo, StatementRecord } from '../shared/types.js';
import { parseArgs, UsageError } from './args.js';
import { openStoreForReading } from './store-path.js';

const iso = (us: number | null) => (us === null ? '-' : new Date(Math.floor(us / 1000)).toISOString());

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

function listText(sessions: SessionInfo[]): string {
  if (sessions.length === 0) return 'no sessions recorded\n';
  return table(
    ['ID', 'IDENTITY', 'CONNECTION', 'CLIENT', 'START', 'END', 'STATEMENTS'],
    sessions.map((s) => [
      s.id,
      s.identity,
      s.connection,
      s.clientAddress,
      iso(s.startedAt),
      s.endedAt === null ? 'open' : iso(s.endedAt),
      String(s.statements),
    ]),
  );
}

function showText(s: SessionInfo, statements: StatementRecord[]): string {
  let out = `session ${s.id}\n  identity ${s.identity} (${s.authMethod})  connection ${s.connection}  client ${s.clientAddress}\n`;
  out += `  started ${iso(s.startedAt)}  ended ${iso(s.endedAt)}${s.endReason ? ` (${s.endReason})` : ''}\n\n`;
  if (statements.length === 0) return `${out}no statements\n`;
  return (
    out +
    table(
      ['#', 'DECISION', 'DURATION', 'ROWS', 'RESULT', 'SQL'],
      statements.map((st) => [
        String(st.seq),
        st.decision + (st.rule ? `:${st.rule}` : ''),
        `${(st.durationUs / 1000).toFixed(2)}ms`,
        String(st.rows) + (st.truncated ? '+' : ''),
        st.errorCode ? `ERROR ${st.errorCode}` : (st.tag ?? '-'),
        st.sql.replace(/\s+/g, ' ').slice(0, 200) +
          (st.params ? `  -- params ${JSON.stringify(st.params).slice(0, 200)}` : ''),
      ]),
    )
  );
}

export async function sessionsCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { store: 'string', json: 'boolean', config: 'string' });
  const [sub, id, extra] = p.positional;
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  if (sub === 'list') {
    if (id !== undefined) throw new UsageError(`unexpected argument "${id}"`);
    const store = openStoreForReading(p);
    try {
      const sessions = store.listSessions({ limit: 1_000_000 });
      process.stdout.write(p.flags.json ? `${JSON.stringify(sessions, null, 2)}\n` : listText(sessions));
    } finally {
      store.close();
    }
    return 0;
  }
  if (sub === 'show') {
    if (!id) throw new UsageError('sessions show needs a session ID');
    const store = openStoreForReading(p);
    try {
      const s = findSession(store, id);
      const statements = store.listStatements(s.id);
      process.stdout.write(
        p.flags.json ? `${JSON.stringify({ session: s, statements }, null, 2)}\n` : showText(s, statements),
      );
    } finally {
      store.close();
    }
    return 0;
  }
  throw new UsageError('usage: bastion sessions list|show [ID] [--store PATH] [--json]');
}

export function findSession(
  store: { getSession(id: string): SessionInfo | undefined },
  id: string,
): SessionInfo {
  let s: SessionInfo | undefined;
  try {
    s = store.getSession(id);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (!s) throw new UsageError(`no session "${id}" in the store`);
  return s;
}
