// The policy editor's masking preview: runs one read-only SELECT against a connection's upstream,
// in a READ ONLY transaction with a statement timeout, through a MaskingStream built from the
// (unsaved) policy, and returns only what a client would get: the masked grid and the counts by
// rule. Raw values never leave this function.

import type { ConnectionConfig } from '../config/types.js';
import { type CompiledMasking, type Counts, MaskCatalog, parseRowDescription } from '../masking/index.js';
import { MaskingPipe } from '../masking/pipe.js';
import { analyzeEach } from '../policy/index.js';
import { CatalogLink } from '../session/catalog-link.js';
import { connectUpstream } from '../session/upstream.js';
import { Backend } from '../wire/codes.js';
import { dataRowText, noticeFields } from '../wire/fields.js';
import * as msg from '../wire/messages.js';
import { SocketReader } from '../wire/socket-reader.js';

export interface MaskPreviewResult {
  error: string | null;
  columns: string[];
  rows: (string | null)[][];
  /** Values masked, by rule. */
  masked: Record<string, number>;
  /** More rows came back than are shown. */
  truncated: boolean;
}

const MAX_ROWS = 200;
const TIMEOUT_MS = 15_000;
const MAX_MESSAGE = 64 * 1024 * 1024;

/** Why `sql` cannot be previewed, or null when it is one plain read. */
export function previewRefusal(sql: string): string | null {
  const statements = analyzeEach(sql);
  if (statements.length !== 1) return 'give exactly one SELECT statement';
  const st = statements[0];
  if (st.kind !== 'select' || st.writes)
    return `only a read-only SELECT can be previewed (this is ${st.kind})`;
  return null;
}

export async function previewMasking(
  connection: ConnectionConfig,
  masking: CompiledMasking,
  sql: string,
): Promise<MaskPreviewResult> {
  const result: MaskPreviewResult = {
    error: previewRefusal(sql),
    columns: [],
    rows: [],
    masked: {},
    truncated: false,
  };
  if (result.error !== null) return result;
  const link = new CatalogLink(connection.upstream);
  const catalog = MaskCatalog.forPolicies([masking], { run: link.run });
  const upstream = await connectUpstream(
    connection.upstream,
    { application_name: 'bastion masking preview' },
    {
      timeoutMs: TIMEOUT_MS,
      maxMessageSize: MAX_MESSAGE,
    },
  );
  const socket = upstream.socket;
  socket.on('error', () => {});
  if (upstream.leftover.length > 0) socket.unshift(upstream.leftover);
  const reader = new SocketReader(socket);
  const counts: Counts = new Map();
  try {
    await catalog.ensureLoaded();
    const stream = new MaskingPipe({ masking, catalog });
    const queries = ['BEGIN TRANSACTION READ ONLY', "SET LOCAL statement_timeout = '5s'", sql, 'ROLLBACK'];
    for (const q of queries) {
      const m = msg.query(q);
      const injected = stream.client(m[0], m, 0, m.length);
      if (injected !== null) socket.write(injected);
      socket.write(m);
    }
    const deadline = Date.now() + TIMEOUT_MS;
    let ready = 0;
    while (ready < queries.length) {
      const raw = await reader.readMessage(MAX_MESSAGE, deadline);
      const out = stream.server(raw.type, raw.raw, 0, raw.raw.length, counts) ?? raw.raw;
      for (let o = 0; o < out.length; ) {
        const type = out[o];
        const next = o + 1 + out.readInt32BE(o + 1);
        const body = out.subarray(o + 5, next);
        if (type === Backend.ReadyForQuery) ready++;
        else if (type === Backend.RowDescription && ready === 2)
          result.columns = parseRowDescription(out, o, next).map((f) => f.name);
        else if (type === Backend.DataRow && ready === 2) {
          if (result.rows.length < MAX_ROWS) result.rows.push(dataRowText(body));
          else result.truncated = true;
        } else if (type === Backend.ErrorResponse && result.error === null) {
          result.error = noticeFields(out, o, next).get('M') ?? 'error';
        }
        o = next;
      }
    }
  } finally {
    reader.detach();
    socket.end(msg.terminate());
    socket.destroy();
    link.close();
  }
  result.masked = Object.fromEntries(counts);
  return result;
}
