// Random interleavings of sessions, frame chunks, statements and closes, written in random
// batches, read back exactly and verify.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import type { StoredFrame, StoreEntry } from '../../proxy/store/types.js';
import type { SessionInfo, StatementRecord } from '../../shared/types.js';
import { frame, session, statement, tempStorePath } from './fixtures.js';

const wireFrame = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  body: fc.uint8Array({ maxLength: 24 }),
});

const sessionPlan = fc.record({
  open: fc.record({
    identity: fc.constantFrom('agent-1', 'agent-2', 'ü-ñ'),
    connection: fc.constantFrom('app', 'reporting'),
    applicationName: fc.option(fc.string(), { nil: null }),
    tls: fc.boolean(),
    startedAt: fc.integer({ min: 0, max: 2 ** 52 }),
  }),
  steps: fc.array(
    fc.oneof(
      fc.record({
        frames: fc.array(wireFrame, { minLength: 1, maxLength: 6 }),
        dir: fc.constantFrom('client' as const, 'server' as const),
        tUs: fc.nat(),
      }),
      fc.record({
        sql: fc.string(),
        params: fc.option(fc.array(fc.option(fc.string(), { nil: null })), { nil: null }),
        masked: fc.dictionary(fc.oneof(fc.string({ minLength: 1 }), fc.constant('__proto__')), fc.nat(), {
          noNullPrototype: true,
        }),
      }),
    ),
    { maxLength: 8 },
  ),
  close: fc.option(fc.record({ endedAt: fc.nat(), endReason: fc.string() }), { nil: null }),
});

type Expected = { session: SessionInfo; statements: StatementRecord[]; frames: StoredFrame[] };

test('random entry sequences round-trip and verify', () => {
  fc.assert(
    fc.property(
      fc.array(sessionPlan, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 60 }),
      fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 10 }),
      fc.nat(),
      fc.nat(),
      (plans, picks, batchSizes, fromSeq, limit) => {
        // Each session's own stream, in order; then interleaved by `picks`.
        const expected: Expected[] = [];
        const streams: StoreEntry[][] = plans.map((plan, i) => {
          const id = `${i}-${'0'.repeat(8)}`;
          const s = session(id, plan.open);
          const exp: Expected = { session: { ...s }, statements: [], frames: [] };
          expected.push(exp);
          const out: StoreEntry[] = [{ kind: 'session_open', session: s }];
          let seq = 0;
          for (const step of plan.steps) {
            if ('frames' in step) {
              const wires = step.frames.map((f) => frame(f.type, Buffer.from(f.body)));
              out.push({
                kind: 'frames',
                sessionId: id,
                seq,
                count: wires.length,
                dir: step.dir,
                tUs: step.tUs,
                data: Buffer.concat(wires),
              });
              for (const f of step.frames) {
                exp.frames.push({
                  seq: seq++,
                  tUs: step.tUs,
                  dir: step.dir,
                  type: f.type,
                  body: Buffer.from(f.body),
                });
              }
            } else {
              const st = statement(id, exp.statements.length + 1, step);
              exp.statements.push(st);
              out.push({ kind: 'statement', statement: st });
            }
          }
          exp.session.statements = exp.statements.length;
          if (plan.close) {
            out.push({ kind: 'session_close', sessionId: id, ...plan.close });
            exp.session.endedAt = plan.close.endedAt;
            exp.session.endReason = plan.close.endReason;
          }
          return out;
        });
        const all: StoreEntry[] = [];
        let p = 0;
        while (streams.some((s) => s.length)) {
          const live = streams.filter((s) => s.length);
          all.push(live[(picks[p++] ?? 0) % live.length].shift()!);
        }

        const store = openSqliteStore(tempStorePath());
        try {
          for (let i = 0, b = 0; i < all.length; b++) {
            const n = batchSizes[b % batchSizes.length];
            store.append(all.slice(i, i + n));
            i += n;
          }
          for (const exp of expected) {
            assert.deepEqual(store.getSession(exp.session.id), exp.session);
            assert.deepEqual(store.listStatements(exp.session.id), exp.statements);
            assert.deepEqual(store.readFrames(exp.session.id), exp.frames);
            const from = fromSeq % (exp.frames.length + 2);
            const lim = limit % (exp.frames.length + 2);
            assert.deepEqual(
              store.readFrames(exp.session.id, from, lim),
              exp.frames.filter((f) => f.seq >= from).slice(0, lim),
            );
          }
          assert.equal(store.listSessions().length, plans.length);
          const v = store.verify();
          assert.deepEqual(v, { ok: true, records: all.length, head: store.chainHead.digest });
        } finally {
          store.close();
        }
      },
    ),
    { numRuns: 60 },
  );
});
