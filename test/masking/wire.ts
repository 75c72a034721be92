// Builders and readers of backend messages for the masking tests (independent of the engine).

import { cstr, int16, int32, message } from '../helpers/raw-client.js';

export interface FieldSpec {
  name: string;
  tableOid?: number;
  attnum?: number;
  typeOid?: number;
  typmod?: number;
  format?: number;
}

export function rowDescription(fields: FieldSpec[]): Buffer {
  return message(
    'T',
    int16(fields.length),
    ...fields.flatMap((f) => [
      cstr(f.name),
      int32(f.tableOid ?? 0),
      int16(f.attnum ?? 0),
      int32(f.typeOid ?? 25),
      int16(-1),
      int32(f.typmod ?? -1),
      int16(f.format ?? 0),
    ]),
  );
}

export function dataRow(values: (string | Buffer | null)[]): Buffer {
  return message(
    'D',
    int16(values.length),
    ...values.flatMap((v) => {
      if (v === null) return [int32(-1)];
      const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      return [int32(b.length), b];
    }),
  );
}

/** DataRow values as raw buffers (null for NULL), checking the lengths add up exactly. */
export function rowValues(msg: Buffer): (Buffer | null)[] {
  if (msg[0] !== 0x44) throw new Error('not a DataRow');
  if (msg.readInt32BE(1) !== msg.length - 1) throw new Error('bad DataRow length');
  const n = msg.readInt16BE(5);
  const out: (Buffer | null)[] = [];
  let p = 7;
  for (let i = 0; i < n; i++) {
    const len = msg.readInt32BE(p);
    p += 4;
    if (len < 0) out.push(null);
    else {
      out.push(msg.subarray(p, p + len));
      p += len;
    }
  }
  if (p !== msg.length) throw new Error('DataRow has trailing bytes');
  return out;
}

export const rowText = (msg: Buffer): (string | null)[] =>
  rowValues(msg).map((v) => (v === null ? null : v.toString('utf8')));

export function errorResponse(type: 'E' | 'N', fields: Record<string, string>): Buffer {
  return message(type, ...Object.entries(fields).map(([k, v]) => cstr(k + v)), Buffer.from([0]));
}

export function errorFieldsOf(msg: Buffer): Record<string, string> {
  if (msg.readInt32BE(1) !== msg.length - 1) throw new Error('bad length');
  const out: Record<string, string> = {};
  let p = 5;
  while (msg[p] !== 0) {
    const nul = msg.indexOf(0, p + 1);
    out[String.fromCharCode(msg[p])] = msg.toString('utf8', p + 1, nul);
    p = nul + 1;
  }
  return out;
}

export function notification(pid: number, channel: string, payload: string): Buffer {
  return message('A', int32(pid), cstr(channel), cstr(payload));
}

export function copyOut(format: number, formats: number[]): Buffer {
  return message('H', Buffer.from([format]), int16(formats.length), ...formats.map(int16));
}

export function copyData(data: Buffer | string): Buffer {
  return message('d', typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
}

/** The payload of one or more CopyData messages, concatenated (checks framing). */
export function copyPayload(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let p = 0;
  while (p < bytes.length) {
    if (bytes[p] !== 0x64) throw new Error(`expected CopyData, got ${String.fromCharCode(bytes[p])}`);
    const len = bytes.readInt32BE(p + 1);
    parts.push(bytes.subarray(p + 5, p + 1 + len));
    p += 1 + len;
  }
  return Buffer.concat(parts);
}

export const i16 = (n: number) => int16(n);
export const i32 = (n: number) => int32(n);
export function i64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(n);
  return b;
}
export { cstr, message };
