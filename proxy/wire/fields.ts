// The few message bodies the session itself needs on the data path: statement text, bound
// parameters, command tags and error codes. Everything works on (buf, start, end) views of a
// framed message (type byte at `start`, body from start + 5) and never allocates a copy of it.

export class FieldError extends Error {}

/** Reads a NUL-terminated string at `pos`; returns it and the position after the NUL. */
export function cstringAt(buf: Buffer, pos: number, end: number): [string, number] {
  const nul = buf.indexOf(0, pos);
  if (nul < 0 || nul >= end) throw new FieldError('unterminated string');
  return [buf.toString('utf8', pos, nul), nul + 1];
}

/** Query: the SQL text. */
export function querySql(buf: Buffer, start: number, end: number): string {
  return cstringAt(buf, start + 5, end)[0];
}

/** Parse: statement name and SQL text. */
export function parseMessage(buf: Buffer, start: number, end: number): { name: string; sql: string } {
  const [name, p] = cstringAt(buf, start + 5, end);
  const [sql] = cstringAt(buf, p, end);
  return { name, sql };
}

const PARAM_TEXT_LIMIT = 4096;

function paramText(buf: Buffer, pos: number, len: number, binary: boolean): string {
  const take = Math.min(len, PARAM_TEXT_LIMIT);
  const s = binary ? `\\x${buf.toString('hex', pos, pos + take)}` : buf.toString('utf8', pos, pos + take);
  return take < len ? `${s}…(${len} bytes)` : s;
}

/** Bind: portal, statement and the parameters as text (binary ones as \x hex). */
export function bindMessage(
  buf: Buffer,
  start: number,
  end: number,
): { portal: string; statement: string; params: (string | null)[] } {
  const [portal, p1] = cstringAt(buf, start + 5, end);
  let [statement, p] = cstringAt(buf, p1, end);
  const need = (n: number) => {
    if (p + n > end) throw new FieldError('Bind message is truncated');
  };
  // Counts are unsigned 16-bit, as PostgreSQL reads them (pq_getmsgint(msg, 2)): read signed, a
  // count of 0x8000 or more would be negative and move the cursor backwards, out of the message.
  need(2);
  const nFormats = buf.readUInt16BE(p);
  p += 2;
  need(nFormats * 2);
  const formats: number[] = [];
  for (let i = 0; i < nFormats; i++) formats.push(buf.readInt16BE(p + i * 2));
  p += nFormats * 2;
  need(2);
  const nParams = buf.readUInt16BE(p);
  p += 2;
  const params: (string | null)[] = [];
  for (let i = 0; i < nParams; i++) {
    need(4);
    const len = buf.readInt32BE(p);
    p += 4;
    if (len < 0) {
      params.push(null);
      continue;
    }
    need(len);
    const fmt = nFormats === 0 ? 0 : nFormats === 1 ? formats[0] : formats[i];
    params.push(paramText(buf, p, len, fmt === 1));
    p += len;
  }
  return { portal, statement, params };
}

/** Execute: portal name. */
export function executePortal(buf: Buffer, start: number, end: number): string {
  return cstringAt(buf, start + 5, end)[0];
}

/** Close: 'S' or 'P' and the name. */
export function closeTarget(buf: Buffer, start: number, end: number): { what: number; name: string } {
  if (start + 6 > end) throw new FieldError('Close message is truncated');
  return { what: buf[start + 5], name: cstringAt(buf, start + 6, end)[0] };
}

/** CommandComplete: the tag. */
export function commandTag(buf: Buffer, start: number, end: number): string {
  return cstringAt(buf, start + 5, end)[0];
}

/** ErrorResponse / NoticeResponse: fields by code letter. */
export function noticeFields(buf: Buffer, start: number, end: number): Map<string, string> {
  const out = new Map<string, string>();
  let p = start + 5;
  while (p < end && buf[p] !== 0) {
    const code = String.fromCharCode(buf[p]);
    const [v, next] = cstringAt(buf, p + 1, end);
    out.set(code, v);
    p = next;
  }
  return out;
}

/** FunctionCall: the function's OID. */
export function functionOid(buf: Buffer, start: number, end: number): number {
  if (start + 9 > end) throw new FieldError('FunctionCall message is truncated');
  return buf.readInt32BE(start + 5);
}

/** Row count at the end of a CommandComplete tag ("SELECT 3", "INSERT 0 5", "COPY 7"), or null. */
export function tagRows(tag: string): number | null {
  const m = /^(?:SELECT|INSERT \d+|UPDATE|DELETE|MERGE|COPY|FETCH|MOVE) (\d+)$/.exec(tag);
  return m ? Number(m[1]) : null;
}

/** DataRow body (after the length) as text values, null for SQL NULL. FieldError if malformed. */
export function dataRowText(body: Buffer): (string | null)[] {
  if (body.length < 2) throw new FieldError('DataRow message is truncated');
  const n = body.readUInt16BE(0);
  const out: (string | null)[] = [];
  let p = 2;
  for (let i = 0; i < n; i++) {
    if (p + 4 > body.length) throw new FieldError('DataRow message is truncated');
    const len = body.readInt32BE(p);
    p += 4;
    if (len < 0) out.push(null);
    else {
      if (p + len > body.length) throw new FieldError('DataRow value is longer than the message');
      out.push(body.toString('utf8', p, p + len));
      p += len;
    }
  }
  if (p !== body.length) throw new FieldError('DataRow message has bytes after its values');
  return out;
}
