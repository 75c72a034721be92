// The live inspector slice: batching, de-duplication, filters, pause, order, trimming, backfill.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileFilter, EMPTY_FILTER, maskedCount, statementKey } from '../../renderer/src/state/filter.js';
import { StatementBuffer } from '../../renderer/src/state/inspector.js';
import { connectEvents, createAppStore } from '../../renderer/src/state/store.js';
import { fakeApi, statement } from './fake-api.js';

const sqls = (list: { sql: string }[]) => list.map((s) => s.sql);

describe('inspector slice', () => {
  it('ingests batches, skips duplicates and publishes one version per batch', () => {
    const store = createAppStore(fakeApi());
    const v0 = store.getState().inspector.version;
    store.getState().ingestStatements([statement({ seq: 1 }), statement({ seq: 2 })]);
    store
      .getState()
      .ingestStatements([
        statement({ seq: 2 }),
        statement({ seq: 3, identity: 'bot', connection: 'reports' }),
      ]);
    const s = store.getState();
    assert.equal(s.inspector.version, v0 + 2);
    assert.equal(s.inspector.total, 3);
    assert.equal(s.inspector.shown, 3);
    assert.deepEqual(sqls(s.statements.view), ['select 1', 'select 2', 'select 3']);
    assert.deepEqual(s.inspector.identities, ['agent-1', 'bot']);
    assert.deepEqual(s.inspector.connections, ['app', 'reports']);
  });

  it('filters by text, identity, connection, decision and errors, and on new arrivals', () => {
    const store = createAppStore(fakeApi());
    const st = () => store.getState();
    st().ingestStatements([
      statement({ seq: 1, sql: 'SELECT * FROM customers' }),
      statement({ seq: 2, sql: 'delete from orders', decision: 'review', identity: 'bot' }),
      statement({
        seq: 3,
        sql: 'drop table x',
        decision: 'block',
        errorCode: '42501',
        errorMessage: 'blocked by no-drop',
      }),
      statement({ seq: 4, sql: 'select 1', connection: 'reports' }),
    ]);
    st().setFilter({ text: 'CUSTOMERS' });
    assert.deepEqual(sqls(st().statements.view), ['SELECT * FROM customers']);
    st().setFilter({ text: 'no-drop' }); // the error message counts too
    assert.deepEqual(sqls(st().statements.view), ['drop table x']);
    st().setFilter({ text: '', identity: 'bot' });
    assert.deepEqual(sqls(st().statements.view), ['delete from orders']);
    st().setFilter({ identity: '', decision: 'error' });
    assert.deepEqual(sqls(st().statements.view), ['drop table x']);
    st().setFilter({ decision: '', connection: 'reports' });
    assert.deepEqual(sqls(st().statements.view), ['select 1']);
    assert.equal(st().inspector.shown, 1);
    assert.equal(st().inspector.total, 4);
    // New statements are matched as they arrive.
    st().ingestStatements([
      statement({ seq: 5, connection: 'reports', sql: 'select 5' }),
      statement({ seq: 6 }),
    ]);
    assert.deepEqual(sqls(st().statements.view), ['select 1', 'select 5']);
    st().setFilter(EMPTY_FILTER);
    assert.equal(st().inspector.shown, 6);
  });

  it('holds statements while paused and shows them on resume', () => {
    const store = createAppStore(fakeApi());
    const st = () => store.getState();
    st().ingestStatements([statement({ seq: 1 })]);
    st().setPaused(true);
    st().ingestStatements([statement({ seq: 2 }), statement({ seq: 3 })]);
    assert.equal(st().inspector.backlog, 2);
    assert.equal(st().inspector.shown, 1);
    st().setPaused(false);
    assert.equal(st().inspector.backlog, 0);
    assert.deepEqual(sqls(st().statements.view), ['select 1', 'select 2', 'select 3']);
  });

  it('keeps at most its capacity, dropping the oldest from the rows and the view', () => {
    const b = new StatementBuffer(10);
    b.setFilter({ ...EMPTY_FILTER, text: 'even' });
    for (let i = 1; i <= 30; i++)
      b.append([statement({ seq: i, sql: i % 2 === 0 ? `even ${i}` : `odd ${i}` })]);
    assert.ok(b.all.length <= 11, `kept ${b.all.length}`);
    assert.equal(b.all.at(-1)!.seq, 30);
    assert.ok(b.view.every((s) => b.byKey.has(statementKey(s))));
    assert.ok(b.view.every((s) => s.sql.startsWith('even')));
    assert.equal(b.byKey.size, b.all.length);
  });

  it('merges the backfill in time order without duplicates', async () => {
    const api = fakeApi();
    api.data.recent = [statement({ seq: 3 }), statement({ seq: 2 }), statement({ seq: 1 })]; // newest first
    const store = createAppStore(api);
    store.getState().ingestStatements([statement({ seq: 4 }), statement({ seq: 3 })]);
    await store.getState().loadRecentStatements();
    assert.deepEqual(
      store.getState().statements.view.map((s) => s.seq),
      [1, 2, 3, 4],
    );
    assert.equal(store.getState().inspector.loaded, true);
    assert.deepEqual(api.calls.find((c) => c.method === 'recentStatements')?.args, [2000]);
  });

  it('measures the rate with the injected clock', () => {
    let now = 0;
    const store = createAppStore(fakeApi(), { now: () => now });
    now = 500;
    store.getState().ingestStatements([statement({ seq: 1 }), statement({ seq: 2 })]);
    now = 1000;
    store.getState().ingestStatements([statement({ seq: 3 })]);
    assert.equal(store.getState().inspector.rate, 3);
  });

  it('changes order, selection and clears', () => {
    const store = createAppStore(fakeApi());
    const st = () => store.getState();
    st().ingestStatements([statement({ seq: 1 })]);
    st().setOrder('tail');
    st().selectStatement('s1:1');
    assert.equal(st().inspector.order, 'tail');
    assert.equal(st().inspector.selected, 's1:1');
    st().clearStatements();
    assert.equal(st().inspector.total, 0);
    assert.equal(st().inspector.selected, null);
  });

  it('applies statement events in one batch per flush, other events at once', () => {
    const api = fakeApi();
    const store = createAppStore(api);
    const flushes: (() => void)[] = [];
    let ingests = 0;
    store.subscribe((s, prev) => {
      if (s.inspector.version !== prev.inspector.version) ingests++;
    });
    const stop = connectEvents(store, api, (f) => flushes.push(f));
    for (let i = 1; i <= 100; i++) api.emit({ event: 'statement', data: statement({ seq: i }) });
    assert.equal(flushes.length, 1);
    assert.equal(store.getState().inspector.total, 0);
    flushes[0]!();
    assert.equal(store.getState().inspector.total, 100);
    assert.equal(ingests, 1);
    api.emit({
      event: 'connection-changed',
      data: {
        name: 'app',
        listen: ':1',
        upstream: 'u',
        hasUpstreamPassword: false,
        tls: 'self-signed',
        state: 'listening',
        error: null,
        activeSessions: 2,
        address: '127.0.0.1:1',
      },
    });
    assert.equal(store.getState().conn.list[0]!.activeSessions, 2);
    stop();
    api.emit({ event: 'statement', data: statement({ seq: 101 }) });
    assert.equal(flushes.length, 1);
  });

  it('compiles filters and counts masked values', () => {
    const match = compileFilter({ text: ' Customers ', identity: '', connection: '', decision: 'allow' });
    assert.equal(match(statement({ seq: 1, sql: 'select * from customers' })), true);
    assert.equal(match(statement({ seq: 1, sql: 'select * from customers', decision: 'warn' })), false);
    assert.equal(maskedCount(statement({ seq: 1, masked: { email: 3, ssn: 2 } })), 5);
  });
});

describe('inspector rate', () => {
  it('falls to zero when nothing arrives', () => {
    let now = 0;
    const store = createAppStore(fakeApi(), { now: () => now });
    now = 1000;
    store.getState().ingestStatements([statement({ seq: 1 }), statement({ seq: 2 })]);
    assert.equal(store.getState().inspector.rate, 2);
    now = 2500;
    store.getState().tickRate();
    assert.equal(store.getState().inspector.rate, 0);
  });
});
