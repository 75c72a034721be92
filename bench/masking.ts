// Masking throughput: rows/s of maskDataRow over 1,000,000 DataRows held in memory (framed as
// they arrive from a socket), per plan: none (passthrough), two masked columns (wire rules,
// redact and partial), the default detectors (on rows with and without PII), and both.
// Also the bare cost of walking the same frames (the floor any gateway pays).
// Run: node dist/bench/masking.js [rows]

import { compileMasking } from '../proxy/masking/compile.js';
import { buildMaskPlan, type MaskPlan, parseRowDescription, type PlanContext } from '../proxy/masking/plan.js';
import { maskDataRow } from '../proxy/masking/rewrite.js';
import { DEFAULT_MASKING_RULES, type MaskRule } from '../proxy/masking/rules.js';

const ROWS = Number(process.argv[2] ?? process.env.BENCH_ROWS ?? 1_000_000);

function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}
function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

const FIELDS = [
  ['id', 1, 23],
  ['full_name', 2, 25],
  ['email', 3, 25],
  ['phone', 4, 25],
  ['ssn', 5, 25],
  ['city', 6, 25],
  ['created_at', 7, 1184],
] as const;
const TABLE = 16400;

function rowDescription(): Buffer {
  const body = Buffer.concat([
    int16(FIELDS.length),
    ...FIELDS.flatMap(([name, att, type]) => [Buffer.from(`${name}\0`), int32(TABLE), int16(att), int32(type), int16(-1), int32(-1), int16(0)]),
  ]);
  return Buffer.concat([Buffer.from('T'), int32(body.length + 4), body]);
}

function dataRow(values: string[]): Buffer {
  const parts = values.flatMap((v) => [int32(Buffer.byteLength(v)), Buffer.from(v)]);
  const body = Buffer.concat([int16(values.length), ...parts]);
  return Buffer.concat([Buffer.from('D'), int32(body.length + 4), body]);
}

const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Edsger Dijkstra', 'Barbara Liskov'];
const CITIES = ['Springfield', 'Riverton', 'Lakeside', 'Fairview'];

/** 1M rows in chunks of ~64 KiB, as a socket would deliver them. */
function makeChunks(pii: boolean): Buffer[] {
  const chunks: Buffer[] = [];
  let cur: Buffer[] = [];
  let size = 0;
  for (let i = 0; i < ROWS; i++) {
    const name = NAMES[i % NAMES.length];
    const row = dataRow(
      pii
        ? [String(i + 1), name, `${name.split(' ')[0].toLowerCase()}.${i}@example.com`, `+1-555-${String(100 + (i % 900))}-${String(1000 + (i % 9000))}`, `9${String(i % 100).padStart(2, '0')}-${String(i % 90 + 10)}-${String(1000 + (i % 9000))}`, CITIES[i % 4], '2024-03-05 10:11:12.123456+00']
        : [String(i + 1), name, `status paid ${i % 7}`, 'shipped', 'n/a', CITIES[i % 4], '2024-03-05 10:11:12.123456+00'],
    );
    cur.push(row);
    size += row.length;
    if (size >= 65536) {
      chunks.push(Buffer.concat(cur));
      cur = [];
      size = 0;
    }
  }
  if (cur.length) chunks.push(Buffer.concat(cur));
  return chunks;
}

/** Walks every DataRow of the chunks (the floor: what passing frames through costs). */
function walk(chunks: Buffer[], fn: ((buf: Buffer, start: number, end: number) => void) | null): number {
  let n = 0;
  for (const c of chunks) {
    let p = 0;
    while (p < c.length) {
      const end = p + 1 + c.readInt32BE(p + 1);
      if (fn) fn(c, p, end);
      n++;
      p = end;
    }
  }
  return n;
}

function measure(name: string, chunks: Buffer[], plan: MaskPlan | null): void {
  const counts = new Map<string, number>();
  let changed = 0;
  const fn = plan
    ? (buf: Buffer, s: number, e: number) => {
        if (maskDataRow(plan, buf, s, e, counts) !== null) changed++;
      }
    : null;
  walk(chunks, fn); // warm up
  changed = 0;
  const best: number[] = [];
  for (let round = 0; round < 3; round++) {
    changed = 0;
    const t0 = process.hrtime.bigint();
    const n = walk(chunks, fn);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    best.push(n / secs);
  }
  const rate = Math.max(...best);
  console.log(
    `${name.padEnd(52)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} rows/s ${(1e9 / rate).toFixed(0).padStart(6)} ns/row  rewritten ${changed.toLocaleString('en-US')}`,
  );
}

const rd = rowDescription();
const fields = parseRowDescription(rd, 0, rd.length);
const key = 'bench-key-0123456789abcdef';
const detectors = compileMasking(DEFAULT_MASKING_RULES, { hashKey: key });
const none = compileMasking([], { hashKey: key });
const REDACT: MaskRule = { name: 'pii', strategy: 'redact' };
const PARTIAL: MaskRule = { name: 'pii', strategy: 'partial' };

function ctx(m: typeof detectors, rules: Record<number, MaskRule>): PlanContext {
  return {
    env: { hasher: m.hasher },
    detection: m.detection,
    columnRule: (oid, att) => (oid === TABLE ? (rules[att] ?? null) : null),
  };
}

console.log(`maskDataRow over ${ROWS.toLocaleString('en-US')} rows of ${FIELDS.length} fields (Node ${process.version})`);
const pii = makeChunks(true);
const clean = makeChunks(false);
measure('walk only (no masking at all)', pii, null);
measure('no plan (passthrough)', pii, buildMaskPlan(fields, ctx(none, {})));
measure('two columns redact (email, ssn), no detectors', pii, buildMaskPlan(fields, ctx(none, { 3: REDACT, 5: REDACT })));
measure('two columns partial (email, ssn), no detectors', pii, buildMaskPlan(fields, ctx(none, { 3: PARTIAL, 5: PARTIAL })));
measure('default detectors, rows without PII', clean, buildMaskPlan(fields, ctx(detectors, {})));
measure('default detectors, every row with PII', pii, buildMaskPlan(fields, ctx(detectors, {})));
measure('two columns redact + default detectors, PII rows', pii, buildMaskPlan(fields, ctx(detectors, { 3: REDACT, 5: REDACT })));
