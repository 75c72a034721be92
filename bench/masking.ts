// Masking throughput: rows/s of maskDataRow over 1,000,000 DataRows held in memory (framed as
// they arrive from a socket), per plan: none (passthrough), two masked columns (wire rules,
// redact and partial), the default detectors (on rows with and without PII), and both.
// Also the bare cost of walking the same frames (the floor any gateway pays).
// Run: node dist/bench/masking.js [rows]
// With --pg: end to end against a throwaway PostgreSQL 18, a 2,000,000-row SELECT read from the
// socket and framed, directly and through a MaskingStream (catalog loaded, lineage analysed).
// With --gateway: the same 2,000,000 rows read by node-postgres directly and through a real
// `bastion serve` (no masking; the default detectors), with the gateway's peak RSS per run
// (VmHWM, reset before each run). Targets: default detectors <= 1.5x direct, RSS < 150 MB.

import { compileMasking } from '../proxy/masking/compile.js';
import {
  buildMaskPlan,
  type MaskPlan,
  type PlanContext,
  parseRowDescription,
} from '../proxy/masking/plan.js';
import { maskDataRow } from '../proxy/masking/rewrite.js';
import { DEFAULT_MASKING_RULES, type MaskRule } from '../proxy/masking/rules.js';

const GATEWAY = process.argv.includes('--gateway');
const PG = process.argv.includes('--pg') || GATEWAY;
const ROWS = Number(
  process.argv.slice(2).find((a) => /^\d+$/.test(a)) ??
    process.env.BENCH_ROWS ??
    (PG ? 2_000_000 : 1_000_000),
);

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
    ...FIELDS.flatMap(([name, att, type]) => [
      Buffer.from(`${name}\0`),
      int32(TABLE),
      int16(att),
      int32(type),
      int16(-1),
      int32(-1),
      int16(0),
    ]),
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

/** ROWS rows made by `row`, in chunks of ~64 KiB, as a socket would deliver them. */
function chunked(row: (i: number) => Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  let cur: Buffer[] = [];
  let size = 0;
  for (let i = 0; i < ROWS; i++) {
    const b = row(i);
    cur.push(b);
    size += b.length;
    if (size >= 65536) {
      chunks.push(Buffer.concat(cur));
      cur = [];
      size = 0;
    }
  }
  if (cur.length) chunks.push(Buffer.concat(cur));
  return chunks;
}

/** 1M text rows in chunks. */
function makeChunks(pii: boolean): Buffer[] {
  return chunked((i) => {
    const name = NAMES[i % NAMES.length];
    return dataRow(
      pii
        ? [
            String(i + 1),
            name,
            `${name.split(' ')[0].toLowerCase()}.${i}@example.com`,
            `+1-555-${String(100 + (i % 900))}-${String(1000 + (i % 9000))}`,
            `9${String(i % 100).padStart(2, '0')}-${String((i % 90) + 10)}-${String(1000 + (i % 9000))}`,
            CITIES[i % 4],
            '2024-03-05 10:11:12.123456+00',
          ]
        : [
            String(i + 1),
            name,
            `status paid ${i % 7}`,
            'shipped',
            'n/a',
            CITIES[i % 4],
            '2024-03-05 10:11:12.123456+00',
          ],
    );
  });
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

if (GATEWAY) await throughGateway();
else if (PG) await endToEnd();
else inMemory();

function inMemory(): void {
  console.log(
    `maskDataRow over ${ROWS.toLocaleString('en-US')} rows of ${FIELDS.length} fields (Node ${process.version})`,
  );
  const pii = makeChunks(true);
  const clean = makeChunks(false);
  measure('walk only (no masking at all)', pii, null);
  measure('no plan (passthrough)', pii, buildMaskPlan(fields, ctx(none, {})));
  measure(
    'two columns redact (email, ssn), no detectors',
    pii,
    buildMaskPlan(fields, ctx(none, { 3: REDACT, 5: REDACT })),
  );
  measure(
    'two columns partial (email, ssn), no detectors',
    pii,
    buildMaskPlan(fields, ctx(none, { 3: PARTIAL, 5: PARTIAL })),
  );
  measure('default detectors, rows without PII', clean, buildMaskPlan(fields, ctx(detectors, {})));
  measure('default detectors, every row with PII', pii, buildMaskPlan(fields, ctx(detectors, {})));
  measure(
    'two columns redact + default detectors, PII rows',
    pii,
    buildMaskPlan(fields, ctx(detectors, { 3: REDACT, 5: REDACT })),
  );
  binaryValues();
}

// Binary values (arrays, records, numeric), as a Bind asking for binary results gets them: the
// element-by-element codecs under column rules and under the detectors.

function binArray(elemOid: number, elems: Buffer[]): Buffer {
  const head = Buffer.alloc(20);
  head.writeInt32BE(1, 0);
  head.writeInt32BE(0, 4);
  head.writeUInt32BE(elemOid, 8);
  head.writeInt32BE(elems.length, 12);
  head.writeInt32BE(1, 16);
  return Buffer.concat([head, ...elems.flatMap((e) => [int32(e.length), e])]);
}

function binRecord(fields: [number, Buffer][]): Buffer {
  return Buffer.concat([
    int32(fields.length),
    ...fields.flatMap(([oid, v]) => [int32(oid), int32(v.length), v]),
  ]);
}

function binNumeric(i: number): Buffer {
  // 1234.5600 + i: digits [1234 + i % 1000, 5600], weight 0, dscale 2
  const b = Buffer.alloc(12);
  b.writeInt16BE(2, 0);
  b.writeInt16BE(0, 2);
  b.writeUInt16BE(0, 4);
  b.writeInt16BE(2, 6);
  b.writeInt16BE(1234 + (i % 1000), 8);
  b.writeInt16BE(5600, 10);
  return b;
}

function binaryValues(): void {
  const BIN_FIELDS = [
    ['id', 1, 23],
    ['emails', 2, 1009], // text[]
    ['amount', 3, 1700], // numeric
    ['contact', 4, 2249], // record (int4, text)
    ['scores', 5, 1007], // int4[]
  ] as const;
  const body = Buffer.concat([
    int16(BIN_FIELDS.length),
    ...BIN_FIELDS.flatMap(([name, att, type]) => [
      Buffer.from(`${name}\0`),
      int32(TABLE),
      int16(att),
      int32(type),
      int16(-1),
      int32(-1),
      int16(1),
    ]),
  ]);
  const desc = Buffer.concat([Buffer.from('T'), int32(body.length + 4), body]);
  const binFields = parseRowDescription(desc, 0, desc.length);
  const chunks = binaryChunks(true);
  const clean = binaryChunks(false);
  const HASH: MaskRule = { name: 'pii', strategy: 'hash' };
  measure('binary: walk only', chunks, null);
  measure(
    'binary: default detectors, no PII (walks every element)',
    clean,
    buildMaskPlan(binFields, ctx(detectors, {})),
  );
  measure('binary: default detectors (text[], record)', chunks, buildMaskPlan(binFields, ctx(detectors, {})));
  measure(
    'binary: rules partial text[], numeric, int4[]',
    chunks,
    buildMaskPlan(binFields, ctx(none, { 2: PARTIAL, 3: PARTIAL, 5: PARTIAL })),
  );
  measure('binary: rule hash int4[]', chunks, buildMaskPlan(binFields, ctx(none, { 5: HASH })));
}

function binaryChunks(pii: boolean): Buffer[] {
  return chunked((i) => {
    const name = NAMES[i % NAMES.length].split(' ')[0].toLowerCase();
    const values = [
      int32(i + 1),
      binArray(25, [
        Buffer.from(pii ? `${name}.${i}@example.com` : `item ${i}`),
        Buffer.from('n/a'),
        Buffer.from(pii ? `${name}@work.example.org` : 'work'),
      ]),
      binNumeric(i),
      binRecord([
        [23, int32(i)],
        [
          25,
          Buffer.from(
            pii && i % 2 ? `call +1-555-${String(100 + (i % 900))}-${String(1000 + (i % 9000))}` : 'no phone',
          ),
        ],
      ]),
      binArray(23, [int32(i), int32(i * 7), int32(i * 13)]),
    ];
    const rowBody = Buffer.concat([int16(values.length), ...values.flatMap((v) => [int32(v.length), v])]);
    return Buffer.concat([Buffer.from('D'), int32(rowBody.length + 4), rowBody]);
  });
}

async function endToEnd(): Promise<void> {
  const { startPostgres } = await import('../test/helpers/postgres.js');
  const { RawClient, queryMessage } = await import('../test/helpers/raw-client.js');
  const { MessageFramer } = await import('../proxy/wire/framer.js');
  const { MaskCatalog } = await import('../proxy/masking/catalog.js');
  const { MaskingPipe } = await import('../proxy/masking/pipe.js');
  const { parseMaskingRules } = await import('../proxy/masking/rules.js');
  const { initPolicyEngine } = await import('../proxy/policy/parser.js');
  const { applyGatewayProcessSettings } = await import('../proxy/runtime.js');
  const pg = (await import('pg')).default;
  // The gateway's code with the gateway's process settings (the parser on V8's baseline compiler).
  applyGatewayProcessSettings({ reexec: false });
  await initPolicyEngine();
  const db = await startPostgres({ version: 18 });
  try {
    const admin = new pg.Client({ connectionString: db.url });
    admin.on('error', () => {});
    await admin.connect();
    await admin.query(`CREATE TABLE big (id int4, full_name text, email text, phone text, ssn text, city text, created_at timestamptz);
      INSERT INTO big SELECT g, 'Name ' || g, 'user' || g || '@example.com',
        '+1-555-' || lpad((g % 1000)::text, 3, '0') || '-' || lpad((g % 10000)::text, 4, '0'),
        '9' || lpad((g % 100)::text, 2, '0') || '-' || lpad((g % 90 + 10)::text, 2, '0') || '-' || lpad((g % 10000)::text, 4, '0'),
        'Springfield', now() FROM generate_series(1, ${ROWS}) g;
      CREATE TABLE small_orders AS SELECT g AS id, 'paid' AS status, (g % 1000)::numeric(10,2) AS amount, 'ref ' || (g % 97) AS note FROM generate_series(1, ${ROWS}) g;`);
    await admin.query('VACUUM ANALYZE big');
    await admin.query('VACUUM ANALYZE small_orders');
    const run = async (sql: string) =>
      (await admin.query({ text: sql, rowMode: 'array' })).rows as (string | null)[][];
    const policies = {
      none: compileMasking([], { hashKey: key }),
      twoColumns: compileMasking(
        parseMaskingRules(
          [{ name: 'pii', columns: ['public.big.email', 'public.big.ssn'], strategy: 'redact' }],
          'm',
        ),
        { hashKey: key },
      ),
      twoColumnsPartial: compileMasking(
        parseMaskingRules(
          [{ name: 'pii', columns: ['public.big.email', 'public.big.ssn'], strategy: 'partial' }],
          'm',
        ),
        { hashKey: key },
      ),
      detectors: compileMasking(DEFAULT_MASKING_RULES, { hashKey: key }),
    };
    const catalog = MaskCatalog.forPolicies(Object.values(policies), { run });
    await catalog.ensureLoaded();
    const once = async (
      sql: string,
      masking: (typeof policies)[keyof typeof policies] | null,
    ): Promise<[number, number]> => {
      const raw = await RawClient.connect('127.0.0.1', db.port);
      await raw.login({ user: db.user, password: db.password, database: db.database });
      const ms = masking ? new MaskingPipe({ masking, catalog }) : null;
      const framer = new MessageFramer(1 << 30);
      const counts = new Map<string, number>();
      let rows = 0;
      let done = false;
      const t0 = process.hrtime.bigint();
      const q = queryMessage(sql);
      ms?.client(q[0], q, 0, q.length);
      await new Promise<void>((resolve) => {
        raw.socket.removeAllListeners('data');
        raw.socket.on('data', (chunk: Buffer) => {
          framer.push(chunk);
          while (framer.next()) {
            if (framer.type === 0x44) rows++;
            if (ms) ms.server(framer.type, framer.buf, framer.start, framer.end, counts);
            if (framer.type === 0x5a) done = true;
          }
          if (done) resolve();
        });
        raw.write(q);
      });
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      raw.socket.destroy();
      return [rows, secs];
    };
    const cases: [string, string, keyof typeof policies | null][] = [
      ['big (PII rows): direct', 'SELECT * FROM big', null],
      ['big: two columns redact (wire), no detectors', 'SELECT * FROM big', 'twoColumns'],
      ['big: two columns partial (wire), no detectors', 'SELECT * FROM big', 'twoColumnsPartial'],
      ['big: default detectors (every row has PII)', 'SELECT * FROM big', 'detectors'],
      ['orders (no PII): direct', 'SELECT * FROM small_orders', null],
      ['orders: default detectors', 'SELECT * FROM small_orders', 'detectors'],
      ['orders: two-column policy (not on this table)', 'SELECT * FROM small_orders', 'twoColumns'],
    ];
    console.log(
      `end to end, ${ROWS.toLocaleString('en-US')} rows, PostgreSQL 18 on 127.0.0.1 (Node ${process.version})`,
    );
    const direct = new Map<string, number>();
    for (const [name, sql, pol] of cases) {
      await once(sql, pol ? policies[pol] : null); // warm
      const times: number[] = [];
      let rows = 0;
      for (let i = 0; i < 3; i++) {
        const [r, t] = await once(sql, pol ? policies[pol] : null);
        rows = r;
        times.push(t);
      }
      const best = Math.min(...times);
      if (pol === null) direct.set(sql, best);
      const ratio = best / (direct.get(sql) ?? best);
      console.log(
        `${name.padEnd(50)} ${best.toFixed(2).padStart(6)} s ${Math.round(rows / best)
          .toLocaleString('en-US')
          .padStart(11)} rows/s  x${ratio.toFixed(2)}`,
      );
    }
    await admin.end();
  } catch (e) {
    console.error(e);
    process.exitCode = 1;
  } finally {
    await db.stop();
  }
}

function bigTableSql(rows: number): string {
  return `CREATE TABLE big (id int4, full_name text, email text, phone text, ssn text, city text, created_at timestamptz);
  INSERT INTO big SELECT g, 'Name ' || g, 'user' || g || '@example.com',
    '+1-555-' || lpad((g % 1000)::text, 3, '0') || '-' || lpad((g % 10000)::text, 4, '0'),
    '9' || lpad((g % 100)::text, 2, '0') || '-' || lpad((g % 90 + 10)::text, 2, '0') || '-' || lpad((g % 10000)::text, 4, '0'),
    'Springfield', now() FROM generate_series(1, ${rows}) g;`;
}

async function throughGateway(): Promise<void> {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const pg = (await import('pg')).default;
  const { startPostgres } = await import('../test/helpers/postgres.js');
  const { fmtMb, resetPeakRss, startServe, statusKb } = await import('./common.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-bench-masking-'));
  const db = await startPostgres({ version: 18 });
  let serve: Awaited<ReturnType<typeof startServe>> | null = null;
  try {
    const admin = new pg.Client({ connectionString: db.url });
    admin.on('error', () => {});
    await admin.connect();
    await admin.query(bigTableSql(ROWS));
    await admin.query('VACUUM ANALYZE big');
    await admin.end();
    const plain = { name: 'bench-plain', password: 'bench-plain-secret', policy: 'plain' };
    const detect = { name: 'bench-detect', password: 'bench-detect-secret' }; // built-in default policy
    serve = await startServe({
      db,
      dir,
      identities: [plain, detect],
      policiesYaml: '  plain:\n    masking: []\n',
    });
    const s = serve;
    const read = async (port: number, user: string, password: string): Promise<[number, string[]]> => {
      const c = new pg.Client({ host: '127.0.0.1', port, user, password, database: db.database, ssl: false });
      c.on('error', () => {});
      await c.connect();
      const t0 = performance.now();
      let n = 0;
      let sample: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const q = new pg.Query({ text: 'SELECT * FROM big', rowMode: 'array' } as ConstructorParameters<
          typeof pg.Query
        >[0]);
        q.on('row', (row: string[]) => {
          if (n++ === 0) sample = row;
        });
        q.on('end', () => resolve());
        q.on('error', reject);
        c.query(q);
      });
      const secs = (performance.now() - t0) / 1000;
      await c.end();
      if (n !== ROWS) throw new Error(`${user}: ${n} rows, expected ${ROWS}`);
      return [secs, sample];
    };
    const cases: [string, number, string, string][] = [
      ['direct', db.port, db.user, db.password],
      ['bastion, no masking', s.port, plain.name, plain.password],
      ['bastion, default detectors', s.port, detect.name, detect.password],
    ];
    console.log(
      `through bastion serve, ${ROWS.toLocaleString('en-US')} rows of PII, node-postgres (Node ${process.version})`,
    );
    const best = new Map<string, number>();
    let peak = 0;
    for (let round = 0; round < 3; round++) {
      for (const [name, port, user, password] of cases) {
        const gateway = port === s.port;
        if (gateway) resetPeakRss(s.pid);
        const [secs, sample] = await read(port, user, password);
        if (name.includes('detectors') && sample[2]?.startsWith('user'))
          throw new Error(`not masked: ${sample.join(', ')}`);
        const rss = gateway ? statusKb(s.pid, 'VmHWM') : 0;
        if (rss > peak) peak = rss;
        best.set(name, Math.min(best.get(name) ?? Number.POSITIVE_INFINITY, secs));
        console.error(
          `round ${round + 1}: ${name} ${secs.toFixed(2)} s${gateway ? `, gateway peak RSS ${fmtMb(rss)}` : ''}`,
        );
      }
    }
    const direct = best.get('direct') ?? 1;
    for (const [name] of cases) {
      const t = best.get(name) ?? 0;
      console.log(
        `${name.padEnd(30)} ${t.toFixed(2).padStart(6)} s ${Math.round(ROWS / t)
          .toLocaleString('en-US')
          .padStart(11)} rows/s  x${(t / direct).toFixed(2)}`,
      );
    }
    console.log(`gateway peak RSS (worst run): ${fmtMb(peak)} (target < 150 MB)`);
  } catch (e) {
    console.error(e);
    process.exitCode = 1;
  } finally {
    await serve?.stop();
    await db.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
