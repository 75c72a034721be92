// The operator's reads (reader-protocol.ts StoreReads) done on a synchronous SessionStore: what
// the reader thread runs. Frames are decoded and reports rendered here too, so that neither the
// decoding of thousands of frames nor a PDF's layout lands on the event loop.

import {
  FRAME_BYTES_MAX,
  type FrameBytes,
  type ReportFile,
  type ReportFileFormat,
} from '../../shared/api.js';
import { buildReport, type ReportFilter, renderReport } from '../report/index.js';
import { decodeFrame } from '../wire/decode.js';
import type { KnownHead, ReadMethod, StoreReads } from './reader-protocol.js';
import type { SessionStore } from './types.js';

export const REPORT_TYPES: Record<ReportFileFormat, string> = {
  pdf: 'application/pdf',
  html: 'text/html',
  csv: 'text/csv',
  json: 'application/json',
};

/** Each read as the thread runs it: the same arguments, the answer itself (or its Promise). */
export type ReadOps = {
  [K in ReadMethod]: (
    ...args: Parameters<StoreReads[K]>
  ) => Awaited<ReturnType<StoreReads[K]>> | ReturnType<StoreReads[K]>;
};

export function readOps(store: SessionStore & { gateways?(): { name: string }[] }): ReadOps {
  return {
    listSessions: (query) => store.listSessions(query),
    getSession: (id) => store.getSession(id) ?? null,
    listStatements: (id) => store.listStatements(id),
    frameViews: (id, fromSeq, limit) =>
      store.readFrames(id, fromSeq, limit).map((f) => {
        const d = decodeFrame(f.dir, f.type, f.body);
        return { seq: f.seq, t_us: f.tUs, dir: f.dir, type: d.type, decoded: d.decoded };
      }),
    frameBytes: (id, seq) => frameBytes(store, id, seq),
    recentStatements: (limit) => store.recentStatements(limit),
    approvals: (query) => store.approvals(query),
    verify: (head: KnownHead | null) => {
      // The writer's head: records cut off after it are then noticed (see SqliteSessionStore.observeHead).
      if (head) store.observeHead?.(head.id, Buffer.from(head.digest, 'hex'));
      return store.verify();
    },
    searchSessions: (query) => store.searchSessions(query),
    searchStatements: (text, limit, offset) => store.searchStatements(text, limit, offset),
    openReplay: (id) => {
      const s = store.getSession(id);
      if (!s) return null;
      return { session: s, frames: store.frameCount(s.id), marks: store.statementMarks(s.id) };
    },
    statementsPage: (id, fromSeq, limit) => store.statementsPage(id, fromSeq, limit),
    exportReport: (format, filter, source) => exportReport(store, format, filter, source),
    gateways: () => (typeof store.gateways === 'function' ? store.gateways().map((g) => g.name) : []),
  };
}

function frameBytes(store: SessionStore, sessionId: string, seq: number): FrameBytes | null {
  const [f] = store.readFrames(sessionId, seq, 1);
  if (!f || f.seq !== seq) return null;
  // As on the wire: type byte (startup packets have none), int32 length counting itself, body.
  const head = Buffer.alloc(f.type === 0 ? 4 : 5);
  if (f.type !== 0) head[0] = f.type;
  head.writeInt32BE(f.body.length + 4, f.type === 0 ? 0 : 1);
  const length = head.length + f.body.length;
  const shown = Buffer.concat([head, f.body.subarray(0, Math.max(0, FRAME_BYTES_MAX - head.length))]);
  return {
    seq: f.seq,
    dir: f.dir,
    type: decodeFrame(f.dir, f.type, f.body).type,
    hex: shown.toString('hex'),
    length,
    truncated: length > shown.length,
  };
}

async function exportReport(
  store: SessionStore,
  format: ReportFileFormat,
  filter: ReportFilter,
  source: string,
): Promise<ReportFile> {
  const report = buildReport(store, filter, { source });
  const bytes = await renderReport(report, format);
  const stamp = report.generatedAtIso.slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  const s = report.summary;
  return {
    fileName: `bastion-report-${stamp}.${format}`,
    mime: REPORT_TYPES[format],
    base64: bytes.toString('base64'),
    bytes: bytes.length,
    summary: {
      sessions: s.sessions,
      statements: s.statements,
      blocked: s.blocked,
      held: s.held,
      errors: s.errors,
      masked: s.masked,
      verified: report.integrity.verified,
      digest: report.digest,
    },
  };
}
