// The fast-path function call (FunctionCall 'F' -> FunctionCallResponse 'V'): one value comes
// back, outside any RowDescription. Its mask comes from the function itself: the column rules its
// body reads (user functions, analysed like views), every configured rule for the built-ins that
// dump relations (query_to_xml, table_to_xml, ...), and the value detectors on what is left. A
// value the gateway cannot mask safely (a binary result of a type it does not know, in which a
// detector finds something) is refused with an ErrorResponse instead: the session goes on.

import { BodyReader } from '../wire/reader.js';
import type { CatalogBinding } from './catalog.js';
import { DATA_DUMPING_BUILTINS } from './catalog.js';
import { bump, type Detection } from './compile.js';
import { OID, typeKind } from './pgtypes.js';
import { detectOp, MaskError } from './plan.js';
import { type MaskRule, stricter } from './rules.js';
import { valueMasker } from './strategies.js';

/** What the gateway needs of a FunctionCall to mask its answer. */
export interface FunctionCallInfo {
  oid: number;
  /** The result format the client asked for (0 text, 1 binary). */
  format: number;
}

/**
 * FunctionCall (buf[start] = 'F'): the function OID and the result format. Counts are unsigned
 * (pq_getmsgint(msg, 2)) and argument lengths below -1 are refused, as PostgreSQL reads them
 * (parse_fcall_arguments): the result format is the int16 after the arguments, and must not be
 * read out of bytes the client put in an argument.
 */
export function parseFunctionCall(buf: Buffer, start: number, end: number): FunctionCallInfo {
  const r = new BodyReader(buf, start + 5, end, 'FunctionCall');
  const oid = r.uint32();
  r.skip(r.uint16() * 2);
  const n = r.uint16();
  for (let i = 0; i < n; i++) r.value();
  // Bytes after the format: PostgreSQL refuses the call with an ERROR (pq_getmsgend) and the
  // session goes on, as for the session's own readers (fields.ts).
  return { oid, format: r.int16() };
}

const DUMPING = new Set(DATA_DUMPING_BUILTINS);

function responseMessage(value: Buffer | null): Buffer {
  const n = value === null ? 0 : value.length;
  const out = Buffer.allocUnsafe(9 + n);
  out[0] = 0x56;
  out.writeInt32BE(8 + n, 1);
  out.writeInt32BE(value === null ? -1 : n, 5);
  if (value !== null) value.copy(out, 9);
  return out;
}

/** The ErrorResponse sent instead of a result that cannot be masked safely. */
export function refusedFunctionResult(reason: string): Buffer {
  const fields = [
    'SERROR',
    'VERROR',
    'C42501',
    `Mthe gateway cannot mask the result of this function call safely: ${reason}`,
    'Hcall the function in a SELECT, where the result has a described type',
  ];
  const body = Buffer.from(`${fields.join('\0')}\0\0`, 'utf8');
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = 0x45;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function detectUnknown(
  det: Detection,
  buf: Buffer,
  start: number,
  end: number,
  format: number,
  counts: Map<string, number> | null,
): Buffer | null | undefined {
  // Text: whatever the type, its text is text. Binary of an unknown type: the bytes cannot be
  // rewritten without knowing the type, so a finding refuses the value.
  if (format === 0) return det.maskBytes(buf, start, end, counts, false, true);
  if (det.maskBytes(buf, start, end, null, false, false) !== undefined)
    throw new MaskError('a value detector matched a binary result of a type the gateway does not know');
  return undefined;
}

/**
 * FunctionCallResponse (buf[start] = 'V') for a call: null = send it unchanged; else the bytes to
 * send instead (the masked response, or an ErrorResponse refusing it).
 */
export function maskFunctionResult(
  buf: Buffer,
  start: number,
  end: number,
  call: FunctionCallInfo | null,
  binding: CatalogBinding,
  counts: Map<string, number> | null,
): Buffer | null {
  const r = new BodyReader(buf, start + 5, end, 'FunctionCallResponse');
  const len = r.value();
  r.expectEnd();
  if (len < 0) return null;
  const vs = r.valueStart;
  const ve = r.pos;
  const det = binding.masking.detection;
  const known = call ? binding.functionByOid(call.oid) : null;
  const format = call?.format ?? 1;
  let rule: MaskRule | null = null;
  if (known) {
    if (known.fn.schema === 'pg_catalog' && DUMPING.has(known.fn.name)) rule = binding.anyRule();
    for (const c of known.lineage?.columns ?? []) rule = stricter(rule, c.rule);
  }
  try {
    let out: Buffer | null | undefined;
    if (rule !== null) {
      const type = known?.fn.returnType ?? OID.text;
      bump(counts, rule.name);
      out = valueMasker(rule.strategy, type, -1, format, binding.env)(buf, vs, ve);
    } else if (det === null) return null;
    else if (known) {
      const op = detectOp(typeKind(known.fn.returnType, binding.userTypes), format, det, binding.userTypes);
      out = op ? op(buf, vs, ve, counts) : undefined;
    } else out = detectUnknown(det, buf, vs, ve, format, counts);
    return out === undefined ? null : responseMessage(out);
  } catch (e) {
    if (e instanceof MaskError) return refusedFunctionResult(e.message);
    throw e;
  }
}
