// Registers every masking case as a node:test subtest: each case runs as each of its identities over
// each of its transports. After each run: (a) no canary form in the bytes the client received
// (skipped for `store` cases, where the client typed the value itself), (b) none in the store's
// records written during the run, (c) a control kept working, and the canary tables are as they
// were (a case must leave the server as it found it). At the end the exported reports are searched
// once per identity. A case listed in KNOWN_LEAKS is reported as todo: an open leak, not a pass.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { ALL_CASES } from './cases/index.js';
import { IDENTITIES, type MaskEnv, startMaskEnv } from './harness.js';
import { KNOWN_LEAKS } from './known-leaks.js';
import { emptyOutcome, runCase } from './runner.js';
import { decodeMessages, findCanaries, formsOf, haystack } from './search.js';
import { openStore, reportHits, type StoreReader } from './store.js';
import type { Identity, MaskCase, Via } from './types.js';

/** A KNOWN_LEAKS entry names a case (`id`) or one identity of it (`id/identity`). */
const isKnown = (id: string, identity: Identity) =>
  KNOWN_LEAKS.includes(id) || KNOWN_LEAKS.includes(`${id}/${identity}`);

export function viasOf(c: MaskCase): Via[] {
  if (c.via) return c.via;
  if (c.custom || c.script !== undefined) return ['query'];
  return ['query', 'extended', 'binary'];
}

// What the canary schema looks like: columns, relations and every row. A case that changes it
// (a rename left behind, a row added to pii.other) would spoil the cases after it.
const FINGERPRINT = `SELECT
  (SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname) FROM pg_class c
     WHERE c.relnamespace = 'pii'::regnamespace) AS relations,
  (SELECT string_agg(c.relname || '.' || a.attname, ',' ORDER BY c.relname, a.attnum) FROM pg_attribute a
     JOIN pg_class c ON c.oid = a.attrelid
     WHERE c.relnamespace = 'pii'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
  (SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM pii.customers x) AS customers,
  (SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM pii.numbers x) AS numbers,
  (SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM pii.docs x) AS docs,
  (SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM pii.other x) AS other,
  (SELECT count(*) FROM pg_largeobject_metadata) AS large_objects`;

async function fingerprint(env: MaskEnv): Promise<Record<string, unknown>> {
  return (await env.db.query(FINGERPRINT)).rows[0];
}

/** Runs one case as one identity over one transport; returns what went wrong (empty: it held). */
async function once(
  env: MaskEnv,
  store: StoreReader,
  base: Record<string, unknown>,
  c: MaskCase,
  identity: Identity,
  via: Via,
): Promise<{ problems: string[]; sessions: string[] }> {
  const problems: string[] = [];
  const from = store.lastRecordId();
  let out = emptyOutcome();
  try {
    if (c.setup) await env.db.query(c.setup);
    out = await runCase(env, c, identity, via);
  } catch (e) {
    problems.push(`harness: ${(e as Error).message}`);
  } finally {
    if (c.cleanup) await env.db.query(c.cleanup).catch((e: Error) => problems.push(`cleanup: ${e.message}`));
  }
  problems.push(...out.transport.map((t) => `transport: ${t}`));
  const forms = formsOf(c, identity);
  if (c.cls !== 'store') {
    const raw = Buffer.concat(out.received);
    const hay = haystack(raw, via === 'psql' || c.custom ? [] : decodeMessages(out.received));
    const hits = findCanaries(hay, forms);
    if (hits.length > 0) problems.push(`client received ${hits.join(', ')}`);
  }
  if (c.kind === 'control') {
    if (out.errors.length > 0) problems.push(`control refused: ${out.errors.join('; ')}`);
    if (out.ended) problems.push('control: the session ended');
    // In binary results the expected text is not spelled out (a number is its bytes): only text
    // transports can show it.
    if (c.expect && via !== 'binary' && !haystack(Buffer.concat(out.received)).includes(c.expect))
      problems.push(`control: ${JSON.stringify(c.expect)} not received`);
  }
  const unsettled = await store.settle(from, out.logins);
  if (unsettled) problems.push(unsettled);
  for (const h of store.search(from, forms)) problems.push(`store holds ${h}`);
  const now = await fingerprint(env);
  for (const [k, v] of Object.entries(base))
    if (now[k] !== v) problems.push(`server left changed: ${k} (cleanup missing?)`);
  return { problems: problems.map((p) => `[${identity}/${via}] ${p}`), sessions: store.sessionsSince(from) };
}

export function maskSuite(): void {
  let env: MaskEnv;
  let store: StoreReader;
  let base: Record<string, unknown>;
  // Which case and run each gateway session belongs to, to attribute a hit in a report.
  const sessionCase = new Map<string, { id: string; identity: Identity; run: string }>();
  const leakedBy = new Map<string, { id: string; identity: Identity; run: string }>();
  const report = process.env.MASK_REPORT;
  before(async () => {
    env = await startMaskEnv();
    store = openStore(env.storePath);
    base = await fingerprint(env);
  });
  after(async () => {
    store?.close();
    await env?.stop();
  });
  // MASK_ONLY=id,id runs only those cases; MASK_ALL=1 runs known leaks as ordinary tests (to check
  // that each one still leaks).
  const only = process.env.MASK_ONLY?.split(',');
  const strict = !!process.env.MASK_ALL;
  const cases = ALL_CASES.filter((c) => !only || only.includes(c.id));
  for (const c of cases) {
    for (const identity of c.identities ?? IDENTITIES) {
      const known = isKnown(c.id, identity) && !strict;
      test(`PG18 ${c.id} [${c.cls}] ${identity}: ${c.desc}`, {
        todo: known ? 'open leak (known-leaks.ts)' : undefined,
      }, async () => {
        const problems: string[] = [];
        for (const via of viasOf(c)) {
          const r = await once(env, store, base, c, identity, via);
          for (const s of r.sessions) sessionCase.set(s, { id: c.id, identity, run: `${identity}/${via}` });
          problems.push(...r.problems);
        }
        // What leaked, by form: a report's summary outside any session is charged to this case.
        const said = problems.join('\n');
        for (const f of formsOf(c, identity))
          if (said.includes(f.form)) leakedBy.set(f.form, { id: c.id, identity, run: identity });
        if (report && problems.length > 0)
          fs.appendFileSync(
            report,
            `${JSON.stringify({ id: c.id, identity, cls: c.cls, desc: c.desc, problems })}\n`,
          );
        assert.deepEqual(problems, [], `${c.id}: ${c.desc}`);
      });
    }
  }

  // The exported reports, once per identity (JSON) and once for all (HTML): a hit counts against
  // the case whose session holds it; hits of known leaks are told, not failed.
  const reportTest = (name: string, format: 'json' | 'html', identity: Identity | null) =>
    test(name, async (t) => {
      // The report of every session: only what both identities protect (a `secret` is protected
      // by the `rules` policy's column rule alone; the per-identity JSON reports check it).
      const forms = formsOf({ id: 'report', cls: 'store', desc: '', kind: 'leak' }, identity ?? 'dflt');
      const hits = await reportHits(env, format, identity, forms, [...sessionCase.keys()]);
      const failing: string[] = [];
      for (const h of hits) {
        // Outside any session (a report's summary of errors): a value some case typed itself.
        const typed = cases.find((c) =>
          h.hits.some((x) => JSON.stringify([c.sql, c.params, c.script]).includes(x)),
        );
        const owner = h.session
          ? sessionCase.get(h.session)
          : ((typed && { id: typed.id, identity: identity ?? 'rules', run: 'typed by the case' }) ??
            h.hits.map((x) => leakedBy.get(x)).find((o) => o !== undefined));
        const line = `${owner ? `${owner.id} [${owner.run}]` : `session ${h.session ?? '(none)'}`}: ${h.hits.join(', ')}`;
        if (owner && isKnown(owner.id, owner.identity) && !strict) t.diagnostic(`known leak: ${line}`);
        else failing.push(line);
      }
      assert.deepEqual([...new Set(failing)], [], `the ${format} report holds canaries`);
    });
  for (const identity of IDENTITIES)
    reportTest(`PG18 report [store] ${identity}: the JSON report holds no canary`, 'json', identity);
  reportTest('PG18 report [store] all: the HTML report holds no canary', 'html', null);
}
