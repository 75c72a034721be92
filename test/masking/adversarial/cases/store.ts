// Store cases (issue 18 item 6): PII the client itself types into SQL text, Bind parameters, COPY
// FROM STDIN data or a FunctionCall argument must not land in clear in the store, the search index
// or an exported report. The answers to these statements carry no canary (counts, booleans,
// digests), so a canary found anywhere is one the gateway recorded from the client's own bytes.

import { PII_ROWS } from '../data.js';
import type { MaskCase } from '../types.js';

const [A, B, C] = PII_ROWS;
const q = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** A MD5 of the text's UTF-8 bytes by FunctionCall (the argument in the message, never in SQL). */
async function functionCallMd5(
  ctx: Parameters<NonNullable<MaskCase['custom']>>[0],
  arg: string,
): Promise<void> {
  const { int16, int32, message } = await import('../../../helpers/raw-client.js');
  const c = await ctx.login();
  try {
    c.write(message('Q', Buffer.from("SELECT 'md5(text)'::regprocedure::oid::int AS oid\0")));
    const rows = await c.readUntil('Z');
    const d = rows.find((m) => m.type === 'D');
    if (d === undefined) throw new Error('no oid for md5(text)');
    const oid = Number(d.body.toString('utf8', 6, 6 + d.body.readInt32BE(2)));
    const b = Buffer.from(arg, 'utf8');
    c.write(message('F', int32(oid), int16(0), int16(1), int32(b.length), b, int16(0)));
    for (const m of await c.readUntil('Z')) ctx.received.push(m.raw);
  } finally {
    c.socket.destroy();
  }
}

export const STORE_CASES: MaskCase[] = [
  {
    id: 'sto-001',
    cls: 'store',
    desc: 'an email literal in a WHERE clause (simple and extended protocol)',
    sql: [`SELECT count(*) FROM pii.customers WHERE email = ${q(A.email)}`],
    kind: 'leak',
  },
  {
    id: 'sto-002',
    cls: 'store',
    desc: 'an SSN and a card literal in an INSERT',
    setup: 'CREATE TABLE pii.sto_inserted (ssn text, card text); GRANT ALL ON pii.sto_inserted TO PUBLIC',
    cleanup: 'DROP TABLE IF EXISTS pii.sto_inserted',
    sql: [`INSERT INTO pii.sto_inserted VALUES (${q(B.ssn)}, ${q(B.card)})`],
    kind: 'leak',
  },
  {
    id: 'sto-003',
    cls: 'store',
    desc: 'Bind parameters carrying an SSN and a card number',
    sql: ['SELECT count(*) FROM pii.customers WHERE ssn = $1 OR card = $2'],
    params: [A.ssn, A.card],
    via: ['extended', 'binary'],
    kind: 'leak',
  },
  {
    id: 'sto-004',
    cls: 'store',
    desc: 'a phone and an email in a comment, where no column is compared',
    sql: [`SELECT 1 /* call ${C.phone} or write ${C.email} */`],
    kind: 'leak',
  },
  {
    id: 'sto-005',
    cls: 'store',
    desc: 'a card number with its digits ungrouped, in an IN list',
    sql: [`SELECT count(*) FROM pii.numbers WHERE card_num IN (${C.card.replace(/\D/g, '')}, 1)`],
    kind: 'leak',
  },
  {
    id: 'sto-006',
    cls: 'store',
    desc: 'COPY FROM STDIN data rows carrying an email and a card (psql script)',
    script: `CREATE TEMP TABLE sto_copied (email text, card text);
COPY sto_copied FROM STDIN;
${A.email}\t${A.card}
${B.email}\t${B.card}
\\.
SELECT count(*) FROM sto_copied;`,
    via: ['psql'],
    kind: 'leak',
  },
  {
    id: 'sto-007',
    cls: 'store',
    desc: 'a FunctionCall argument carrying an email',
    kind: 'leak',
    custom: (ctx) => functionCallMd5(ctx, A.email),
  },
  {
    id: 'sto-008',
    cls: 'store',
    desc: 'an email written in base64 inside the SQL text',
    sql: [`SELECT length(decode(${q(Buffer.from(B.email).toString('base64'))}, 'base64'))`],
    reveal: (s) => [s, Buffer.from(s).toString('base64')],
    kind: 'leak',
  },
  {
    id: 'sto-009',
    cls: 'store',
    desc: 'an SSN as the name of a prepared statement (SQL PREPARE / EXECUTE)',
    sql: [`PREPARE "${A.ssn}" AS SELECT 1`, `EXECUTE "${A.ssn}"`, `DEALLOCATE "${A.ssn}"`],
    via: ['query'],
    kind: 'leak',
  },
  {
    id: 'sto-010',
    cls: 'store',
    desc: 'a statement that fails: the error the server returns is stored with the SQL',
    sql: [`SELECT ${q(C.ssn)}::int`],
    kind: 'leak',
  },
  {
    id: 'sto-011',
    cls: 'store',
    desc: 'control: the server still gets the typed value as sent (the store alone is masked)',
    sql: [`SELECT count(*) AS n FROM pii.customers WHERE email = ${q(A.email)} AND ssn = ${q(A.ssn)}`],
    kind: 'control',
    expect: '1',
  },
  {
    id: 'sto-012',
    cls: 'store',
    desc: "a letters-only secret compared with its column rule's column (no detector knows its shape)",
    identities: ['rules'],
    sql: [`SELECT count(*) FROM pii.customers c WHERE c.secret = ${q(A.secret)}`],
    kind: 'leak',
  },
  {
    id: 'sto-013',
    cls: 'store',
    desc: 'a secret bound as a parameter compared with the masked column',
    identities: ['rules'],
    sql: ['SELECT count(*) FROM pii.customers WHERE secret = $1'],
    params: [B.secret],
    via: ['extended', 'binary'],
    kind: 'leak',
  },
  {
    id: 'sto-014',
    cls: 'store',
    desc: 'a secret inserted into and assigned to the masked column (INSERT column list, UPDATE SET)',
    identities: ['rules'],
    setup: 'CREATE TABLE pii.sto_secrets (id int, secret text); GRANT ALL ON pii.sto_secrets TO PUBLIC',
    cleanup: 'DROP TABLE IF EXISTS pii.sto_secrets',
    sql: [
      `INSERT INTO pii.sto_secrets (id, secret) VALUES (1, ${q(C.secret)})`,
      `UPDATE pii.sto_secrets SET secret = ${q(A.secret)} WHERE id = 1`,
    ],
    kind: 'leak',
  },
  {
    id: 'sto-015',
    cls: 'store',
    desc: 'a secret in an IN list and cut in two by concatenation, against the masked column',
    identities: ['rules'],
    sql: [
      `SELECT count(*) FROM pii.customers WHERE secret IN ('x', ${q(B.secret)})`,
      `SELECT count(*) FROM pii.customers WHERE secret = ${q(C.secret.slice(0, 9))} || ${q(C.secret.slice(9))}`,
    ],
    reveal: (s) => [s, s.slice(0, 9), s.slice(9)],
    kind: 'leak',
  },
  {
    id: 'sto-016',
    cls: 'store',
    desc: "an email hidden from the detectors by an escape string (E'...\\x40...')",
    sql: [`SELECT md5(E'${A.email.replace('@', '\\x40')}')`],
    reveal: (s) => [s, s.slice(0, s.indexOf('@'))],
    kind: 'leak',
  },
  {
    id: 'sto-017',
    cls: 'store',
    desc: 'an email hidden by concatenation and chr(64)',
    sql: [
      `SELECT md5(${q(B.email.split('@')[0])} || chr(64) || ${q(B.email.split('@')[1])})`,
      `SELECT md5(${q(B.email.split('@')[0])} || '@' || ${q(B.email.split('@')[1])})`,
    ],
    reveal: (s) => [s, s.slice(0, s.indexOf('@'))],
    kind: 'leak',
  },
  {
    id: 'sto-018',
    cls: 'store',
    desc: "an email hidden by a Unicode escape string (U&'\\0040')",
    sql: [`SELECT md5(U&'${C.email.replace('@', '\\0040')}')`],
    reveal: (s) => [s, s.slice(0, s.indexOf('@'))],
    kind: 'leak',
  },
];
