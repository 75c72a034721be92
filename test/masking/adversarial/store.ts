// The store and the exported report as places a canary can end up. The store is read directly
// (read-only SQLite, as `bastion serve` keeps writing it): after each run, the records written
// since the run began, found by record id range so the check costs one range scan. The report is
// exported once per identity at the end of the suite (cheap for CI) and every hit is attributed
// to the session, hence the case, it comes from.

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { bastion } from '../../helpers/cli.js';
import type { MaskEnv } from './harness.js';
import { findCanaries, haystack } from './search.js';

export interface StoreReader {
  lastRecordId(): number;
  /** Waits until `logins` sessions opened after record `from` are all closed (their records written). */
  settle(from: number, logins: number): Promise<string | null>;
  /** Session ids opened after record `from`. */
  sessionsSince(from: number): string[];
  /** Canary hits in every record after `from`: "record <id> <kind> <session>: <hits>". */
  search(from: number, forms: { canary: string; form: string }[]): string[];
  close(): void;
}

export function openStore(file: string): StoreReader {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  const last = db.prepare('SELECT coalesce(max(id), 0) FROM records').pluck();
  const opened = db.prepare('SELECT id, close_record_id FROM sessions WHERE open_record_id > ?');
  const records = db.prepare('SELECT id, kind, session_id, body FROM records WHERE id > ? ORDER BY id');
  return {
    lastRecordId: () => last.get() as number,
    async settle(from, logins) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const rows = opened.all(from) as { id: string; close_record_id: number | null }[];
        if (rows.length >= logins && rows.every((r) => r.close_record_id !== null)) return null;
        if (Date.now() > deadline)
          return `store: ${rows.filter((r) => r.close_record_id !== null).length} of ${logins} sessions closed after 10 s`;
        await new Promise((r) => setTimeout(r, 15));
      }
    },
    sessionsSince: (from) => (opened.all(from) as { id: string }[]).map((r) => r.id),
    search(from, forms) {
      const out: string[] = [];
      for (const r of records.iterate(from) as Iterable<{
        id: number;
        kind: string;
        session_id: string;
        body: Buffer;
      }>) {
        const hits = findCanaries(haystack(Buffer.from(r.body)), forms);
        if (hits.length > 0) out.push(`record ${r.id} ${r.kind} ${r.session_id}: ${hits.join(', ')}`);
      }
      return out;
    },
    close: () => db.close(),
  };
}

export interface ReportHit {
  /** The session the hit belongs to (null: outside any session). */
  session: string | null;
  hits: string[];
}

/** Exports a report (`bastion report`) and returns where it holds a canary form. */
export async function reportHits(
  env: MaskEnv,
  format: 'json' | 'html',
  identity: string | null,
  forms: { canary: string; form: string }[],
  sessions: readonly string[],
): Promise<ReportHit[]> {
  const out = path.join(env.dir, `report-${identity ?? 'all'}.${format}`);
  const args = ['report', '--format', format, '--out', out, '--store', env.storePath];
  if (identity) args.push('--identity', identity);
  const r = await bastion(args, { cwd: env.dir, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`bastion ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  const text = fs.readFileSync(out, 'utf8');
  fs.rmSync(out, { force: true });
  if (format === 'json') return jsonHits(JSON.parse(text), forms);
  // HTML: a hit belongs to the last session id printed before it.
  const hits: ReportHit[] = [];
  for (const f of forms) {
    for (let at = text.indexOf(f.form); at >= 0; at = text.indexOf(f.form, at + 1)) {
      let session: string | null = null;
      let best = -1;
      for (const s of sessions) {
        const p = text.lastIndexOf(s, at);
        if (p > best) [best, session] = [p, s];
      }
      hits.push({ session, hits: [f.form] });
    }
  }
  return hits;
}

/** Walks the JSON report; every string holding a canary is charged to its enclosing session. */
function jsonHits(report: unknown, forms: { canary: string; form: string }[]): ReportHit[] {
  const hits: ReportHit[] = [];
  const walk = (v: unknown, session: string | null): void => {
    if (typeof v === 'string') {
      const h = findCanaries(haystack(Buffer.from(v)), forms);
      if (h.length > 0) hits.push({ session, hits: h });
    } else if (Array.isArray(v)) for (const x of v) walk(x, session);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const own =
        typeof o.sessionId === 'string'
          ? o.sessionId
          : Array.isArray(o.statements) && typeof o.id === 'string'
            ? o.id
            : session;
      for (const x of Object.values(o)) walk(x, own);
    }
  };
  walk(report, null);
  return hits;
}
