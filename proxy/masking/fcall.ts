// The fast-path function call (FunctionCall 'F' -> FunctionCallResponse 'V'): one value comes
// back, outside any RowDescription. Its mask comes from the function itself: the column rules its
// body reads (user functions, analysed like views), every configured rule for the built-ins that
// dump relations (query_to_xml, table_to_xml, ...), and the value detectors on what is left. A
// value the gateway cannot mask safely (a binary result of a type it does not know, in which a
// detector finds something) is refused with an ErrorResponse instead: the session goes on.

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

/** FunctionCall (buf[start] = 'F'): the function OID and the result format. */
export function parseFunctionCall(buf: Buffer, start: number, end: number): FunctionCallInfo {
  const need = (p: number, k: number) => {
    if (p + k > end) throw new MaskError('FunctionCall is truncated');
  };
  let p = start + 5;
  need(p, 6);
  const oid = buf.readUInt32BE(p);
  const nf = buf.readInt16BE(p + 4);
  p += 6 + Math.max(nf, 0) * 2;
  need(p, 2);
  const na = buf.readInt16BE(p);
  p += 2;
  for (let i = 0; i < na; i++) {
    need(p, 4);
    const len = buf.readInt32BE(p);
    p += 4 + Math.max(len, 0);
  }
  need(p, 2);
  return { oid, format: buf.readInt16BE(p) };
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
  if (end - start < 9) throw new MaskError('FunctionCallResponse is truncated');
  const len = buf.readInt32BE(start + 5);
  if (len < 0) return null;
  const vs = start + 9;
  const ve = vs + len;
  if (ve > end) throw new MaskError('FunctionCallResponse is truncated');
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
