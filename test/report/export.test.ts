// Session export: one session of a store built by real traffic as a file that opens in the
// replayer's shape (listStatements/readFrames), verifies on its own, and fails when tampered with.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UsageError } from '../../cli/args.js';
import { exportCommand, importCommand } from '../../cli/export.js';
import { buildReport } from '../../proxy/report/index.js';
import { recordDigest } from '../../proxy/store/chain.js';
import {
  exportSession,
  isExportFile,
  openExport,
  openStoreFile,
  verifyExport,
} from '../../proxy/store/export.js';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import { decodeFrame } from '../../proxy/wire/decode.js';
import { copyStore, type RecordedTraffic, recordTraffic } from './traffic.js';

let t: RecordedTraffic;
let file: string;

before(async () => {
  t = await recordTraffic();
  const store = openSqliteStore(t.storePath, { readonly: true });
  file = path.join(t.dir, 'session.bastion-session');
  exportSession(store, t.sessions[0].id.slice(0, 8), file, { label: 'test store' });
  store.close();
});
after(() => t?.cleanup());

type Line = Record<string, unknown> & {
  id?: number;
  kind?: string;
  body?: string;
  prev?: { id: number; digest: string };
};

function lines(f: string): Line[] {
  return fs
    .readFileSync(f, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
}

function write(f: string, ls: Line[], fixTrailer = true): void {
  const body = ls.slice(0, -1).map((l) => `${JSON.stringify(l)}\n`);
  const end = ls[ls.length - 1];
  if (fixTrailer) {
    // The attacker recomputes the file digest and count too.
    end.sha256 = createHash('sha256').update(body.join('')).digest('hex');
    end.records = ls.length - 2;
  }
  fs.writeFileSync(f, `${body.join('')}${JSON.stringify(end)}\n`);
}

let n = 0;
function variant(edit: (ls: Line[]) => void, fixTrailer = true): string {
  const ls = lines(file);
  edit(ls);
  const f = path.join(t.dir, `variant-${++n}.bastion-session`);
  write(f, ls, fixTrailer);
  return f;
}

describe('export', () => {
  test('verifies on its own and against its source store', () => {
    const v = verifyExport(file);
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.equal(v.sessionId, t.sessions[0].id);
    const store = openSqliteStore(t.storePath, { readonly: true });
    const records = [...store.sessionRecords(t.sessions[0].id)];
    assert.equal(v.records, records.length);
    assert.equal(verifyExport(file, { against: store }).matchedSource, true);
    store.close();
    // Another store (the session pruned away) does not have these records.
    const other = openSqliteStore(copyStore(t));
    other.prune(t.cutoff);
    const w = verifyExport(file, { against: other });
    assert.equal(w.ok, false);
    assert.match(w.firstBad!.reason, /not the source store's record/);
    other.close();
  });

  test('opens in the replayer: the same session, statements and frames as the store', () => {
    const store = openSqliteStore(t.storePath, { readonly: true });
    const view = openExport(file);
    const id = t.sessions[0].id;
    assert.deepEqual(view.getSession(id.slice(0, 6)), store.getSession(id));
    assert.deepEqual(view.listSessions(), [store.getSession(id)]);
    assert.deepEqual(view.listSessions({ identity: 'analyst' }), []);
    assert.deepEqual(view.listStatements(id), store.listStatements(id));
    const frames = view.readFrames(id);
    const original = store.readFrames(id);
    assert.equal(frames.length, original.length);
    assert.ok(frames.length > 20);
    frames.forEach((f, i) => {
      const o = original[i];
      assert.deepEqual([f.seq, f.tUs, f.dir, f.type], [o.seq, o.tUs, o.dir, o.type]);
      assert.ok(f.body.equals(o.body));
      decodeFrame(f.dir, f.type, f.body);
    });
    assert.deepEqual(
      view.readFrames(id, 10, 5).map((f) => f.seq),
      [10, 11, 12, 13, 14],
    );
    assert.equal(view.verify().ok, true);
    // A report can be built over the export alone.
    const r = buildReport(view);
    assert.equal(r.summary.sessions, 1);
    assert.equal(r.summary.statements, 10);
    assert.equal(r.integrity.verified, true);
    store.close();
    assert.equal(isExportFile(file), true);
    assert.equal(isExportFile(t.storePath), false);
    const any = openStoreFile(file);
    assert.equal(any.listStatements(id).length, 10);
  });

  test('a session after a pruned gap still exports and verifies', () => {
    const copy = copyStore(t);
    const store = openSqliteStore(copy);
    store.prune(t.cutoff);
    const f = path.join(t.dir, 'after-prune.bastion-session');
    const s = exportSession(store, t.sessions[2].id, f);
    store.close();
    assert.ok(s.frames > 5);
    assert.equal(verifyExport(f).ok, true);
  });
});

describe('a tampered export fails verification, naming the record', () => {
  const frameLine = (ls: Line[], k = 3) => ls.filter((l) => l.kind === 'frames')[k];

  test('a frame payload byte changed', () => {
    let target = 0;
    const f = variant((ls) => {
      const l = frameLine(ls);
      const body = Buffer.from(l.body!, 'base64');
      body[body.length - 2] ^= 0x20;
      l.body = body.toString('base64');
      target = l.id!;
    });
    const v = verifyExport(f);
    assert.equal(v.ok, false);
    assert.deepEqual(v.firstBad, { id: target, reason: 'digest mismatch: the record was changed' });
  });

  test("a payload changed and its digest recomputed: the next record's link catches it", () => {
    let target = 0;
    const f = variant((ls) => {
      const i = ls.findIndex((l, j) => l.kind === 'frames' && ls[j + 1]?.id === (l.id as number) + 1);
      const l = ls[i];
      const body = Buffer.from(l.body!, 'base64');
      body[body.length - 2] ^= 0x20;
      l.body = body.toString('base64');
      const prev = { id: l.prev!.id, digest: Buffer.from(l.prev!.digest, 'hex') };
      l.digest = recordDigest(prev, {
        id: l.id!,
        kind: l.kind!,
        sessionId: l.sessionId as string,
        tUs: l.tUs as number,
        body,
      }).toString('hex');
      target = ls[i + 1].id!;
    });
    const v = verifyExport(f);
    assert.equal(v.ok, false);
    assert.equal(v.firstBad!.id, target);
    assert.match(v.firstBad!.reason, /not chained to record/);
  });

  test('a frame record removed', () => {
    let after = 0;
    const f = variant((ls) => {
      const l = frameLine(ls);
      const i = ls.indexOf(l);
      ls.splice(i, 1);
      after = ls.slice(i).find((x) => x.kind === 'frames')!.id!;
    });
    const v = verifyExport(f);
    assert.equal(v.ok, false);
    assert.equal(v.firstBad!.id, after);
    assert.match(v.firstBad!.reason, /frames \d+\.\.\d+ are missing/);
  });

  test('two records swapped', () => {
    let first = 0;
    const f = variant((ls) => {
      const a = ls.indexOf(frameLine(ls, 2));
      const b = ls.indexOf(frameLine(ls, 4));
      [ls[a], ls[b]] = [ls[b], ls[a]];
      first = ls[a].id!;
    });
    const v = verifyExport(f);
    assert.equal(v.ok, false);
    assert.equal(v.firstBad!.id, first);
  });

  test('a statement removed, or the file cut short', () => {
    const f = variant((ls) => {
      ls.splice(
        ls.findIndex((l) => l.kind === 'statement'),
        1,
      );
    });
    assert.match(verifyExport(f).firstBad!.reason, /counts 10 statements, 9 are in the file/);
    const cut = path.join(t.dir, 'cut.bastion-session');
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(cut, text.slice(0, text.lastIndexOf('{"end"')));
    assert.match(verifyExport(cut).firstBad!.reason, /cut short/);
    const edited = variant((ls) => {
      (ls[0].session as Record<string, unknown>).identity = 'someone-else';
    }, false);
    const v = verifyExport(edited);
    assert.equal(v.ok, false);
    assert.match(v.firstBad!.reason, /differs from record \d+ in identity|file digest/);
  });
});

describe('bastion export / import', () => {
  const capture = async (f: () => Promise<number>) => {
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((c: string | Uint8Array) => {
      out.push(String(c));
      return true;
    }) as typeof process.stdout.write;
    try {
      return { code: await f(), out: out.join('') };
    } finally {
      process.stdout.write = write;
    }
  };

  test('exports by id prefix, imports (verifies and shows), replays', async () => {
    const out = path.join(t.dir, 'cli.bastion-session');
    const id = t.sessions[1].id;
    const e = await capture(() => exportCommand([id.slice(0, 8), '--out', out, '--store', t.storePath]));
    assert.equal(e.code, 0);
    assert.match(e.out, new RegExp(`exported session ${id}: \\d+ records \\(3 statements, \\d+ frames\\)`));
    const i = await capture(() => importCommand([out, '--against', t.storePath]));
    assert.equal(i.code, 0);
    assert.match(i.out, /^ok: \d+ records of session .* intact and matching the source store/);
    assert.match(i.out, /identity analyst {2}connection app/);
    const r = await capture(() => importCommand([out, '--replay']));
    const frames = r.out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; type: string });
    const store = openSqliteStore(t.storePath, { readonly: true });
    assert.equal(frames.length, store.readFrames(id).length);
    store.close();
    assert.ok(frames.some((f) => f.type === 'Query' || f.type === 'Parse'));
    const j = await capture(() => importCommand([out, '--json']));
    assert.equal((JSON.parse(j.out) as { statements: unknown[] }).statements.length, 3);
  });

  test('a tampered file makes import exit 1; bad arguments are usage errors', async () => {
    const f = variant((ls) => {
      const l = ls.filter((x) => x.kind === 'frames')[1];
      const body = Buffer.from(l.body!, 'base64');
      body[body.length - 1] ^= 1;
      l.body = body.toString('base64');
    });
    const i = await capture(() => importCommand([f]));
    assert.equal(i.code, 1);
    assert.match(i.out, /^FAILED: record \d+: digest mismatch/);
    await assert.rejects(exportCommand(['--store', t.storePath]), UsageError);
    await assert.rejects(exportCommand(['nope', '--out', 'x', '--store', t.storePath]), UsageError);
    await assert.rejects(exportCommand([t.sessions[0].id, '--store', t.storePath]), UsageError);
    await assert.rejects(importCommand([path.join(t.dir, 'missing')]), UsageError);
    await assert.rejects(importCommand([t.storePath]), /not a Bastion session export/);
  });
});
