// PII the client types (SQL text, Bind parameters, COPY FROM STDIN data, a FunctionCall argument)
// never reaches the audit store in clear (issue 18 item 6), through real clients (psql, node-postgres,
// a raw FunctionCall) and a real gateway in front of PostgreSQL 18. Checked where it could land:
// every byte of the store file, its WAL and the recording journal, `bastion sessions show --json`,
// `bastion replay`, the search API, and `bastion report --format json|html|csv`. The server still
// gets the values as sent (checked on the server), the chain still verifies, the stored frame
// keeps a keyed digest an auditor can match, and a connection with `record_client_values: clear`
// keeps them.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import { bastion, lines } from '../helpers/cli.js';
import { runPsql } from '../helpers/clients.js';
import { AGENT, connectionTo, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { cstr, int16, int32, message, RawClient } from '../helpers/raw-client.js';

/** Typed by the client on the masked connection, one per way in (canaries of adversarial/data.ts). */
const TYPED = {
  sqlEmail: 'zoe.quist4821@maskcanary.test',
  sqlSsn: '614-28-3075',
  paramSsn: '523-71-4829',
  paramCard: '4539148803436467',
  copyEmail: 'mei.okonkwo1766@maskcanary.test',
  copyCard: '371449635398431',
  fcallEmail: 'idris.varga9307@maskcanary.test',
  holdEmail: 'held.value7731@maskcanary.test',
  splitEmail: 'split.row6620@maskcanary.test',
  splitCard: '5555555555554444',
  appName: 'app.user3390@maskcanary.test',
  // Local parts of emails the SQL text hides from the detectors (escapes, concatenation, chr).
  escaped: 'hidden5521',
  concatenated: 'hidden6612',
  charCode: 'hidden7713',
};
/** Letters only (no detector knows them): PII because of the column they meet, under a column rule. */
const SECRETS = {
  where: 'qvxlorbitzenfaltwump',
  insert: 'mrplazquendobrixtol',
  update: 'wuxfendralopquistam',
  param: 'jozzbervantrixulmo',
  inList: 'klimpforzatwendquil',
};
const RULED = { name: 'ruled', password: 'ruled-secret' };
/** Typed on the connection that keeps client values in clear. */
const CLEAR = { email: 'keep.clear5150@maskcanary.test', ssn: '271-64-9013' };

let db: TestPostgres;
let gw: TestGateway;
let dir: string;
let storePath: string;
const sessionIds: string[] = [];

before(async () => {
  db = await startPostgres({ version: 18 });
  const direct = new pg.Client(db.url);
  await direct.connect();
  await direct.query(
    'CREATE TABLE customers (id serial, email text, ssn text, card text, secret text); GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC',
  );
  const md5 = await direct.query("SELECT 'md5(text)'::regprocedure::oid AS oid");
  await direct.end();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-store-values-'));
  storePath = path.join(dir, 'bastion.db');
  gw = await startGateway(db, {
    storePath,
    extraConnections: [{ ...connectionTo('clear', db), recordClientValues: 'clear' }],
    identities: [
      {
        name: AGENT.name,
        password: AGENT.password,
        oidc: null,
        connections: ['app', 'clear'],
        policy: 'default',
      },
      { name: RULED.name, password: RULED.password, oidc: null, connections: ['app'], policy: 'ruled' },
    ],
    policies: {
      ruled: { masking: [{ name: 'secrets', columns: ['public.customers.secret'], strategy: 'redact' }] },
    },
  });
  const clearPort = gw.core.addresses()[1].port;

  // Simple Query through psql: a literal in a WHERE and one in an INSERT.
  const psql = await runPsql(
    [
      '-c',
      `SELECT count(*) FROM customers WHERE email = '${TYPED.sqlEmail}'`,
      '-c',
      `INSERT INTO customers (ssn) VALUES ('${TYPED.sqlSsn}')`,
    ],
    // The startup packet too: application_name.
    { ...gw.target(), env: { PGAPPNAME: TYPED.appName } },
  );
  assert.equal(psql.code, 0, psql.stderr);
  // COPY FROM STDIN data rows through psql.
  const copy = await runPsql([], {
    ...gw.target(),
    input: `COPY customers (email, card) FROM STDIN;\n${TYPED.copyEmail}\t${TYPED.copyCard}\n\\.\n`,
  });
  assert.equal(copy.code, 0, copy.stderr);
  // Bind parameters through node-postgres (extended protocol).
  const c = new pg.Client({ ...gw.target(), ssl: false });
  await c.connect();
  await c.query('INSERT INTO customers (ssn, card) VALUES ($1, $2)', [TYPED.paramSsn, TYPED.paramCard]);
  // An email the text hides from the detectors, which the server reads as plain.
  const hidden = await c.query(
    `SELECT E'${TYPED.escaped}\\x40maskcanary.test' AS a, 'x.${TYPED.concatenated}' || '@' || 'maskcanary.test' AS b,
            U&'${TYPED.charCode}' || chr(64) || 'maskcanary.test' AS c`,
  );
  assert.equal(hidden.rows.length, 1);
  await c.end();
  // A FunctionCall argument: md5(text).
  const raw = await RawClient.connect(gw.host, gw.port);
  await raw.login({ user: AGENT.name, password: AGENT.password });
  const arg = Buffer.from(TYPED.fcallEmail);
  raw.write(message('F', int32(md5.rows[0].oid), int16(0), int16(1), int32(arg.length), arg, int16(0)));
  const answer = await raw.readUntil('Z');
  assert.ok(
    answer.some((m) => m.type === 'V'),
    'a FunctionCallResponse',
  );
  // COPY data cut by the client in the middle of values: neither half is recognisable alone.
  raw.write(message('Q', cstr('COPY customers (email, card) FROM STDIN')));
  await raw.readUntil('G');
  const row = `${TYPED.splitEmail}\t${TYPED.splitCard}\n`;
  const cut1 = row.indexOf('@') - 3;
  const cut2 = row.indexOf('\t') + 7;
  for (const piece of [row.slice(0, cut1), row.slice(cut1, cut2), row.slice(cut2)])
    raw.write(message('d', Buffer.from(piece)));
  raw.write(message('c'));
  const copied = await raw.readUntil('Z');
  assert.ok(
    copied.some((m) => m.type === 'C'),
    'the COPY completes',
  );
  // A statement held for review (DELETE without WHERE): its approval record holds the SQL.
  raw.write(message('Q', cstr(`DELETE FROM customers /* ${TYPED.holdEmail} */`)));
  await raw.readMessage(); // the hold notice
  raw.socket.destroy();
  // Under a column rule: literals and parameters that meet the masked column, whatever their shape.
  const r = new pg.Client({ ...gw.target({ user: RULED.name, password: RULED.password }), ssl: false });
  await r.connect();
  await r.query(`SELECT count(*) FROM customers c WHERE c.secret = '${SECRETS.where}'`);
  await r.query(`INSERT INTO customers (email, secret) VALUES ('x', '${SECRETS.insert}')`);
  await r.query(`UPDATE customers SET secret = '${SECRETS.update}' WHERE email = 'x'`);
  await r.query('SELECT count(*) FROM customers WHERE secret = $1', [SECRETS.param]);
  await r.query(`SELECT count(*) FROM customers WHERE secret IN ('a', '${SECRETS.inList}')`);
  await r.end();
  // The connection that keeps client values in clear.
  const k = new pg.Client({ ...gw.target({ port: clearPort }), ssl: false });
  await k.connect();
  await k.query(`SELECT count(*) FROM customers WHERE email = '${CLEAR.email}' OR ssn = '${CLEAR.ssn}'`);
  await k.end();

  // What the server got is what the client sent: the store alone is masked.
  const check = new pg.Client(db.url);
  await check.connect();
  const got = await check.query(
    `SELECT count(*)::int AS n FROM customers
     WHERE ssn IN ($1, $2) OR (email = $3 AND card = $4) OR card = $5 OR (email = $6 AND card = $7)`,
    [
      TYPED.sqlSsn,
      TYPED.paramSsn,
      TYPED.copyEmail,
      TYPED.copyCard,
      TYPED.paramCard,
      TYPED.splitEmail,
      TYPED.splitCard,
    ],
  );
  assert.equal(got.rows[0].n, 4);
  const secret = await check.query('SELECT secret FROM customers WHERE email = $1', ['x']);
  assert.equal(secret.rows[0].secret, SECRETS.update, 'the server got the values as sent');
  await check.end();
  await new Promise((r) => setTimeout(r, 200));
  await gw.core.stop();
  const list = await bastion(['sessions', 'list', '--json', '--store', storePath]);
  assert.equal(list.code, 0, list.stderr);
  for (const s of JSON.parse(list.stdout) as { id: string }[]) sessionIds.push(s.id);
  assert.ok(sessionIds.length >= 5, `sessions recorded: ${sessionIds.length}`);
});

after(async () => {
  await gw?.stop();
  await db?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The typed values, and the digits of a card or SSN (written another way). */
function leaks(text: string, values: readonly string[]): string[] {
  // (The digits form only for values without letters: an email's four digits turn up in timestamps.)
  return values.filter((v) => text.includes(v) || (!/[a-z]/i.test(v) && text.includes(v.replace(/\D/g, ''))));
}

const MASKED = [...Object.values(TYPED), ...Object.values(SECRETS)];

test('no typed value in the store file, its WAL or the journal; the clear connection keeps its own', () => {
  const files = fs.readdirSync(dir).filter((f) => f.startsWith('bastion.db'));
  assert.ok(files.includes('bastion.db'));
  const bytes = files.map((f) => fs.readFileSync(path.join(dir, f)).toString('latin1')).join('\n');
  assert.deepEqual(leaks(bytes, MASKED), []);
  assert.ok(
    bytes.includes(CLEAR.email) && bytes.includes(CLEAR.ssn),
    'record_client_values: clear keeps them',
  );
});

test('sessions show --json and replay show masked text; the chain verifies', async () => {
  let all = '';
  for (const id of sessionIds) {
    const show = await bastion(['sessions', 'show', id, '--json', '--store', storePath]);
    assert.equal(show.code, 0, show.stderr);
    const replay = await bastion(['replay', id, '--store', storePath]);
    assert.equal(replay.code, 0, replay.stderr);
    all += show.stdout + replay.stdout;
    // A value cut across CopyData messages: what a reader gets by joining the client's COPY data.
    const copied = lines(replay.stdout)
      .map((l) => JSON.parse(l) as { dir: string; type: string; decoded: { text?: string } })
      .filter((f) => f.dir === 'client' && f.type === 'CopyData')
      .map((f) => f.decoded.text ?? '')
      .join('');
    assert.deepEqual(leaks(copied, MASKED), [], 'COPY data joined');
  }
  assert.deepEqual(leaks(all, MASKED), []);
  // The statement text keeps the policy's partial form; the stored frame keeps a keyed digest.
  assert.match(all, /z\*\*\*@maskcanary\.test/);
  const key = fs.readFileSync(path.join(dir, 'bastion-mask.key'));
  const digest = createHmac('sha256', key).update(TYPED.sqlEmail).digest('hex');
  assert.ok(all.includes(`#${digest.slice(0, TYPED.sqlEmail.length - 1)}`), 'the frame holds the digest');
  assert.ok(all.includes(CLEAR.email), 'the clear connection is kept in clear');
  const verify = await bastion(['verify', '--store', storePath]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

test('the search API finds no typed value; it finds the clear connection', () => {
  const store = openSqliteStore(storePath, { readonly: true });
  try {
    for (const v of ['quist4821', 'okonkwo1766', TYPED.sqlSsn, TYPED.paramSsn, ...Object.values(SECRETS)]) {
      assert.equal(store.searchSessions({ text: v }).sessions.length, 0, v);
      assert.equal(store.searchStatements(v, 10).statements.length, 0, v);
    }
    assert.equal(store.searchSessions({ text: 'clear5150' }).sessions.length, 1);
    const approvals = JSON.stringify(store.approvals({}));
    assert.deepEqual(leaks(approvals, MASKED), []);
    assert.match(approvals, /h\*\*\*@maskcanary\.test/);
  } finally {
    store.close();
  }
});

test('reports (json, html, csv) hold no typed value', async () => {
  for (const format of ['json', 'html', 'csv']) {
    const out = path.join(dir, `report.${format}`);
    const r = await bastion(['report', '--format', format, '--out', out, '--store', storePath]);
    assert.equal(r.code, 0, r.stderr);
    const text = fs.readFileSync(out, 'utf8');
    assert.deepEqual(leaks(text, MASKED), [], format);
    assert.ok(text.includes(CLEAR.email), `${format}: the clear connection's value is kept`);
    assert.ok(lines(text).length > 0);
  }
});
