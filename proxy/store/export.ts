// Session export: one session as a self-contained file another Bastion can open in the replayer
// and verify on its own.
//
// The file is JSON lines:
//   line 1   {"format":"bastion-session-export","version":1, "session":{...}, "source":{...}, ...}
//   then     one line per chain record of the session, in chain order (session_open, frames,
//            statement, approval, session_close):
//            {"id","kind","sessionId","tUs","prev":{"id","digest"},"digest","body"(base64)}
//   last     {"end":true,"records":N,"sha256":hex of every byte before this line}
//
// Each record carries the link it was chained to (the digest of record id-1 in the source chain),
// so its digest can be recomputed from the file alone: an edited record no longer matches its
// digest, and where two exported records are neighbours in the chain the later one's link must be
// the earlier one's digest. `source.head` is the source chain's head when the file was written;
// checking records against the source store (verifyExport's `against`) proves they are its records.
//
// Version 2 added approval records (version 1 files, which have none, are read as before).

import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Approval } from '../../shared/api.js';
import type { SessionInfo, StatementRecord, VerifyResult } from '../../shared/types.js';
import type { ApprovalEntry } from '../report/types.js';
import {
  APPROVAL_KIND,
  approvalEntry,
  approvalTime,
  decodeApprovalBody,
  requestDiffers,
} from './approvals.js';
import { type ChainLink, DIGEST_BYTES, GENESIS, recordDigest } from './chain.js';
import { decodeChunkHeader, splitChunk } from './frames.js';
import { openSqliteStore } from './sqlite-store.js';
import type { ChainedRecord, SessionQuery, SessionReader, SessionStore, StoredFrame } from './types.js';

export const EXPORT_FORMAT = 'bastion-session-export';
export const EXPORT_VERSION = 2;
/** Versions this Bastion reads. */
const READABLE_VERSIONS: readonly number[] = [1, 2];

export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  /** EXPORT_VERSION when written; a file of an earlier readable version when read. */
  version: number;
  /** ISO 8601 UTC. */
  exportedAt: string;
  generator: string;
  session: SessionInfo;
  /** What the file was exported from: the store's chain head then, and whether it verified. */
  source: {
    label: string | null;
    verified: boolean;
    records: number;
    head: { id: number; digest: string | null };
  };
}

interface RecordLine {
  id: number;
  kind: string;
  sessionId: string;
  tUs: number;
  prev: { id: number; digest: string };
  digest: string;
  body: string;
}

interface EndLine {
  end: true;
  records: number;
  sha256: string;
}

export interface ExportSummary {
  file: string;
  sessionId: string;
  records: number;
  statements: number;
  frames: number;
  /** Approval records (each state change of an approval is one). */
  approvals: number;
  /** SHA-256 (hex) of the file's bytes before its last line, as the last line states it. */
  sha256: string;
}

export interface ExportVerifyResult extends VerifyResult {
  sessionId: string | null;
  /** True when `against` was given and every record still in it matched. */
  matchedSource?: boolean;
}

const GENERATOR = 'Bastion 0.1.0';

/**
 * Writes session `idOrPrefix` of `store` to `file` (replaced whole, never half-written).
 * Throws if there is no such session.
 */
export function exportSession(
  store: SessionStore,
  idOrPrefix: string,
  file: string,
  opts: { label?: string; now?: Date } = {},
): ExportSummary {
  const session = store.getSession(idOrPrefix);
  if (!session) throw new Error(`no session "${idOrPrefix}" in the store`);
  const v = store.verify();
  const header: ExportHeader = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exportedAt: (opts.now ?? new Date()).toISOString(),
    generator: GENERATOR,
    session,
    source: { label: opts.label ?? null, verified: v.ok, records: v.records, head: store.chainHead },
  };
  const target = path.resolve(file);
  const tmp = `${target}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  const hash = createHash('sha256');
  let records = 0;
  let statements = 0;
  let frames = 0;
  let approvals = 0;
  try {
    const line = (value: unknown) => {
      const b = Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
      hash.update(b);
      writeSync(fd, b);
    };
    line(header);
    for (const r of store.sessionRecords(session.id)) {
      const out: RecordLine = {
        id: r.id,
        kind: r.kind,
        sessionId: r.sessionId,
        tUs: r.tUs,
        prev: { id: r.prev.id, digest: r.prev.digest.toString('hex') },
        digest: r.digest.toString('hex'),
        body: r.body.toString('base64'),
      };
      line(out);
      records++;
      if (r.kind === 'statement') statements++;
      if (r.kind === 'frames') frames += decodeChunkHeader(r.body).count;
      if (r.kind === APPROVAL_KIND) approvals++;
    }
    const end: EndLine = { end: true, records, sha256: hash.digest('hex') };
    writeSync(fd, `${JSON.stringify(end)}\n`);
    closeSync(fd);
    renameSync(tmp, target);
    return {
      file: target,
      sessionId: session.id,
      records,
      statements,
      frames,
      approvals,
      sha256: end.sha256,
    };
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw e;
  }
}

interface ParsedExport {
  header: ExportHeader;
  records: ChainedRecord[];
  /** Problems found while parsing (bad lines), as verify reports them. */
  problem?: { id: number; reason: string };
}

const isHex = (s: unknown, bytes = DIGEST_BYTES): s is string =>
  typeof s === 'string' && s.length === bytes * 2 && /^[0-9a-f]*$/.test(s);

/** Parses an export file; throws if it is not one at all (wrong header). */
function parseExport(file: string): ParsedExport {
  const bytes = readFileSync(file);
  const text = bytes.toString('utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let header: ExportHeader;
  try {
    header = JSON.parse(lines[0] ?? '') as ExportHeader;
  } catch {
    throw new Error(`${file} is not a Bastion session export`);
  }
  if (header?.format !== EXPORT_FORMAT) throw new Error(`${file} is not a Bastion session export`);
  if (!READABLE_VERSIONS.includes(header.version)) {
    throw new Error(
      `${file} is a session export of version ${header.version}, this Bastion reads versions ${READABLE_VERSIONS.join(' and ')}`,
    );
  }
  const records: ChainedRecord[] = [];
  let problem: ParsedExport['problem'];
  const fail = (id: number, reason: string) => {
    problem ??= { id, reason };
  };
  let end: EndLine | undefined;
  let offset = Buffer.byteLength(lines[0], 'utf8') + 1;
  let endOffset = -1;
  for (let i = 1; i < lines.length; i++) {
    const ln = lines[i];
    let v: Partial<RecordLine & EndLine>;
    try {
      v = JSON.parse(ln) as Partial<RecordLine & EndLine>;
    } catch {
      fail(records.length ? records[records.length - 1].id + 1 : 0, `line ${i + 1} is not JSON`);
      offset += Buffer.byteLength(ln, 'utf8') + 1;
      continue;
    }
    if (v.end === true) {
      if (i !== lines.length - 1) fail(0, `the end line is line ${i + 1}, not the last`);
      end = v as EndLine;
      endOffset = offset;
      break;
    }
    const ok =
      Number.isSafeInteger(v.id) &&
      typeof v.kind === 'string' &&
      typeof v.sessionId === 'string' &&
      Number.isSafeInteger(v.tUs) &&
      v.prev !== undefined &&
      Number.isSafeInteger(v.prev.id) &&
      isHex(v.prev.digest) &&
      isHex(v.digest) &&
      typeof v.body === 'string';
    if (!ok) {
      fail(Number.isSafeInteger(v.id) ? (v.id as number) : 0, `line ${i + 1} is not a valid record`);
    } else {
      records.push({
        id: v.id!,
        kind: v.kind!,
        sessionId: v.sessionId!,
        tUs: v.tUs!,
        prev: { id: v.prev!.id, digest: Buffer.from(v.prev!.digest, 'hex') },
        digest: Buffer.from(v.digest!, 'hex'),
        body: Buffer.from(v.body!, 'base64'),
      });
    }
    offset += Buffer.byteLength(ln, 'utf8') + 1;
  }
  if (!end) fail(records.length ? records[records.length - 1].id : 0, 'the file is cut short (no end line)');
  else {
    const sha = createHash('sha256').update(bytes.subarray(0, endOffset)).digest('hex');
    if (end.records !== records.length) {
      fail(0, `the end line counts ${end.records} records, the file holds ${records.length}`);
    } else if (end.sha256 !== sha) {
      fail(0, 'the file digest in the end line does not match its content');
    }
  }
  return problem ? { header, records, problem } : { header, records };
}

const SESSION_FIELDS = [
  'id',
  'identity',
  'authMethod',
  'connection',
  'clientAddress',
  'applicationName',
  'database',
  'tls',
  'protocol',
  'startedAt',
] as const;

function jsonOf(r: ChainedRecord): Record<string, unknown> {
  return JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
}

/** Checks the records of a parsed export; the first bad one (lowest id) or undefined. */
function checkRecords(p: ParsedExport): { id: number; reason: string } | undefined {
  const s = p.header.session;
  let prev: ChainedRecord | undefined;
  let statements = 0;
  let nextFrame: number | undefined;
  const approvals = new Map<string, Approval>();
  for (const r of p.records) {
    if (prev && r.id <= prev.id)
      return { id: r.id, reason: `record ${r.id} is out of order (after ${prev.id})` };
    if (r.prev.id !== r.id - 1)
      return { id: r.id, reason: `record ${r.id} is linked to record ${r.prev.id}` };
    if (r.id === 1 && !r.prev.digest.equals(GENESIS.digest)) {
      return { id: r.id, reason: 'record 1 is not linked to the genesis' };
    }
    if (!recordDigest(r.prev as ChainLink, r).equals(r.digest)) {
      return { id: r.id, reason: 'digest mismatch: the record was changed' };
    }
    if (prev && prev.id === r.id - 1 && !prev.digest.equals(r.prev.digest)) {
      return { id: r.id, reason: `record ${r.id} is not chained to record ${prev.id} before it` };
    }
    if (r.sessionId !== s.id) return { id: r.id, reason: `record ${r.id} belongs to another session` };
    try {
      if (r.kind === 'session_open') {
        if (prev) return { id: r.id, reason: 'the session is opened twice or late' };
        const opened = jsonOf(r).session as Record<string, unknown>;
        const differ = SESSION_FIELDS.filter((k) => opened[k] !== s[k]);
        if (differ.length)
          return {
            id: r.id,
            reason: `the header's session differs from record ${r.id} in ${differ.join(', ')}`,
          };
      } else if (!prev) {
        return { id: r.id, reason: 'the session_open record is missing' };
      } else if (r.kind === 'statement') {
        statements++;
        const st = jsonOf(r).statement as StatementRecord;
        if (st.sessionId !== s.id)
          return { id: r.id, reason: `record ${r.id} is a statement of another session` };
      } else if (r.kind === 'frames') {
        const h = decodeChunkHeader(r.body);
        if (nextFrame !== undefined && h.seq !== nextFrame) {
          return { id: r.id, reason: `frames ${nextFrame}..${h.seq - 1} are missing before record ${r.id}` };
        }
        nextFrame = h.seq + h.count;
        splitChunk(r.body, 0, Number.POSITIVE_INFINITY, []);
      } else if (r.kind === APPROVAL_KIND && p.header.version >= 2) {
        const a = decodeApprovalBody(r.body);
        if (a.sessionId !== s.id)
          return { id: r.id, reason: `record ${r.id} is an approval of another session` };
        if (r.tUs !== approvalTime(a))
          return { id: r.id, reason: `record ${r.id} is not timed as it states` };
        const prior = approvals.get(a.id);
        if (
          prior &&
          (prior.state !== 'pending' || a.state === 'pending' || requestDiffers(prior, a).length > 0)
        ) {
          return { id: r.id, reason: `record ${r.id} does not follow approval ${a.id}'s request` };
        }
        approvals.set(a.id, a);
      } else if (r.kind === 'session_close') {
        const c = jsonOf(r);
        if (c.endedAt !== s.endedAt || c.endReason !== s.endReason) {
          return { id: r.id, reason: `the header's session end differs from record ${r.id}` };
        }
      } else {
        return { id: r.id, reason: `record ${r.id} has an unknown kind ${r.kind}` };
      }
    } catch {
      return { id: r.id, reason: `record ${r.id} cannot be read` };
    }
    prev = r;
  }
  if (!prev) return { id: 0, reason: 'the file holds no records' };
  if (statements !== s.statements) {
    return {
      id: prev.id,
      reason: `the header counts ${s.statements} statements, ${statements} are in the file`,
    };
  }
  const closed = p.records.some((r) => r.kind === 'session_close');
  if (closed !== (s.endedAt !== null)) {
    return { id: prev.id, reason: 'the session_close record is missing or unexpected' };
  }
  const { head } = p.header.source;
  if (head.id === prev.id && head.digest !== prev.digest.toString('hex')) {
    return { id: prev.id, reason: `record ${prev.id} is not the source chain head the header names` };
  }
  return undefined;
}

/** Something that can give the digest of a record by id (the source store). */
export interface RecordSource {
  sessionRecords(sessionId: string): Iterable<ChainedRecord>;
}

/**
 * Verifies an export on its own: every record's digest recomputes from its content and link, the
 * records form the session (open, contiguous frames, statements counted, close), and the file is
 * whole. With `against` (the source store), also that every record is still the store's record.
 */
export function verifyExport(file: string, opts: { against?: RecordSource } = {}): ExportVerifyResult {
  let parsed: ParsedExport;
  try {
    parsed = parseExport(file);
  } catch (e) {
    return {
      ok: false,
      records: 0,
      head: null,
      firstBad: { id: 0, reason: (e as Error).message },
      sessionId: null,
    };
  }
  const bad = [parsed.problem, checkRecords(parsed)].filter((b) => b !== undefined);
  let matchedSource: boolean | undefined;
  if (opts.against && bad.length === 0) {
    const source = new Map<number, Buffer>();
    for (const r of opts.against.sessionRecords(parsed.header.session.id)) source.set(r.id, r.digest);
    matchedSource = true;
    for (const r of parsed.records) {
      const d = source.get(r.id);
      if (!d?.equals(r.digest)) {
        matchedSource = false;
        bad.push({ id: r.id, reason: `record ${r.id} is not the source store's record ${r.id}` });
        break;
      }
    }
  }
  // Record problems first (they name a record), then file-level ones (id 0).
  bad.sort((a, b) => (a.id === 0 ? 1 : 0) - (b.id === 0 ? 1 : 0) || a.id - b.id);
  const first = bad[0];
  const last = parsed.records[parsed.records.length - 1];
  return {
    ok: first === undefined,
    records: parsed.records.length,
    head: last ? last.digest.toString('hex') : null,
    ...(first ? { firstBad: first } : {}),
    sessionId: parsed.header.session.id,
    ...(matchedSource !== undefined ? { matchedSource } : {}),
  };
}

/** An exported session opened for reading: the replayer's view of a store holding one session. */
export class ExportedSession implements SessionReader {
  readonly header: ExportHeader;
  readonly session: SessionInfo;
  private readonly statements: StatementRecord[];
  /** Frame chunk bodies in seq order. */
  private readonly chunks: Buffer[];
  /** Each approval with its latest state (later records replace earlier ones). */
  private readonly approvalsById = new Map<string, Approval>();

  constructor(readonly file: string) {
    const p = parseExport(file);
    this.header = p.header;
    this.statements = [];
    this.chunks = [];
    let opened: SessionInfo | undefined;
    let closed: { endedAt: number; endReason: string } | undefined;
    for (const r of p.records) {
      if (r.kind === 'frames') this.chunks.push(r.body);
      else if (r.kind === 'statement') this.statements.push(jsonOf(r).statement as StatementRecord);
      else if (r.kind === 'session_open') opened = jsonOf(r).session as SessionInfo;
      else if (r.kind === 'session_close') closed = jsonOf(r) as { endedAt: number; endReason: string };
      else if (r.kind === APPROVAL_KIND) {
        try {
          const a = decodeApprovalBody(r.body);
          this.approvalsById.set(a.id, a);
        } catch {
          // verify names it
        }
      }
    }
    this.statements.sort((a, b) => a.seq - b.seq);
    this.chunks.sort((a, b) => decodeChunkHeader(a).seq - decodeChunkHeader(b).seq);
    // The session as its records state it (the header is only checked against them).
    const base = opened ?? p.header.session;
    this.session = {
      ...base,
      endedAt: closed?.endedAt ?? base.endedAt ?? null,
      endReason: closed?.endReason ?? base.endReason ?? null,
      statements: this.statements.length,
    };
  }

  listSessions(query: SessionQuery = {}): SessionInfo[] {
    const s = this.session;
    const match =
      (query.identity === undefined || s.identity === query.identity) &&
      (query.connection === undefined || s.connection === query.connection) &&
      (query.since === undefined || s.startedAt >= query.since) &&
      (query.until === undefined || s.startedAt <= query.until) &&
      (query.offset ?? 0) === 0 &&
      query.limit !== 0;
    return match ? [s] : [];
  }

  getSession(idOrPrefix: string): SessionInfo | undefined {
    return idOrPrefix !== '' && this.session.id.startsWith(idOrPrefix) ? this.session : undefined;
  }

  listStatements(sessionId: string): StatementRecord[] {
    return sessionId === this.session.id ? this.statements.map((s) => ({ ...s })) : [];
  }

  readFrames(sessionId: string, fromSeq = 0, limit = Number.POSITIVE_INFINITY): StoredFrame[] {
    const out: StoredFrame[] = [];
    if (sessionId !== this.session.id || !(limit > 0)) return out;
    for (const body of this.chunks) {
      const h = decodeChunkHeader(body);
      if (h.seq + h.count - 1 < fromSeq) continue;
      splitChunk(body, fromSeq, limit, out);
      if (out.length >= limit) break;
    }
    return out;
  }

  verify(): VerifyResult {
    const { sessionId: _s, matchedSource: _m, ...v } = verifyExport(this.file);
    return v;
  }

  listPrunes() {
    return [];
  }

  /** The session's approvals, oldest request first (see SessionStore.listApprovals). */
  listApprovals(sessionId: string): ApprovalEntry[] {
    if (sessionId !== this.session.id) return [];
    const seqOf = new Map<string, number>();
    for (const st of this.statements) {
      if (st.approvalId && !seqOf.has(st.approvalId)) seqOf.set(st.approvalId, st.seq);
    }
    return [...this.approvalsById.values()]
      .sort((a, b) => a.requestedAt - b.requestedAt)
      .map((a) => approvalEntry(a, seqOf.get(a.id) ?? null));
  }

  close(): void {
    // Nothing held open: the file was read whole.
  }
}

/** Opens an exported session file for reading (throws if the file is not one). */
export function openExport(file: string): ExportedSession {
  return new ExportedSession(file);
}

/** True if the file starts like a session export (rather than an SQLite store). */
export function isExportFile(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(64);
    const n = readSync(fd, head, 0, head.length, 0);
    return head.subarray(0, n).toString('utf8').startsWith(`{"format":"${EXPORT_FORMAT}"`);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Opens a store file for reading, whichever kind it is: a session export or an SQLite store.
 * (For `--store PATH` in read-only commands: `bastion replay`, `sessions`, `verify`, `report`.)
 */
export function openStoreFile(file: string): SessionReader {
  return isExportFile(file) ? openExport(file) : openSqliteStore(file, { readonly: true });
}
