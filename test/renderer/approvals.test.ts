// The approvals slice: loading, events, ordering, decisions and their failures.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  approvalHistory,
  MAX_HISTORY,
  pendingApprovals,
  pendingCount,
} from '../../renderer/src/state/approvals.js';
import { createAppStore } from '../../renderer/src/state/store.js';
import { approval, fakeApi } from './fake-api.js';

describe('approvals slice', () => {
  it('loads, then keeps pending ones by expiry and history by decision time', async () => {
    const api = fakeApi();
    api.data.approvals = [
      approval({ id: 'a', expiresAt: 300 }),
      approval({ id: 'b', expiresAt: 100 }),
      approval({ id: 'c', state: 'approved', decidedAt: 10, decidedBy: 'ops' }),
      approval({ id: 'd', state: 'expired', decidedAt: 20 }),
    ];
    const store = createAppStore(api);
    await store.getState().loadApprovals();
    const { byId, loaded } = store.getState().approvals;
    assert.equal(loaded, true);
    assert.deepEqual(
      pendingApprovals(byId).map((a) => a.id),
      ['b', 'a'],
    );
    assert.deepEqual(
      approvalHistory(byId).map((a) => a.id),
      ['d', 'c'],
    );
    assert.equal(pendingCount(byId), 2);
  });

  it('applies approval-changed events (a pending one gets decided elsewhere)', () => {
    const store = createAppStore(fakeApi());
    store.getState().upsertApproval(approval({ id: 'a' }));
    assert.equal(pendingCount(store.getState().approvals.byId), 1);
    store
      .getState()
      .upsertApproval(approval({ id: 'a', state: 'denied', decidedBy: 'someone', decidedAt: 3 }));
    assert.equal(pendingCount(store.getState().approvals.byId), 0);
    assert.equal(store.getState().approvals.byId.a!.decidedBy, 'someone');
  });

  it('decides with the chosen name and records the outcome', async () => {
    const api = fakeApi();
    api.data.approvals = [approval({ id: 'a' })];
    const store = createAppStore(api, { decideAs: 'alice' });
    await store.getState().loadApprovals();
    const p = store.getState().decideApproval('a', 'approve');
    assert.equal(store.getState().approvals.deciding.a, 'approve');
    // A second click while the first is in flight does nothing.
    assert.equal(await store.getState().decideApproval('a', 'deny'), false);
    assert.equal(await p, true);
    assert.deepEqual(
      api.calls.filter((c) => c.method === 'decideApproval').map((c) => c.args),
      [['a', 'approve', 'alice']],
    );
    const a = store.getState().approvals.byId.a!;
    assert.equal(a.state, 'approved');
    assert.equal(a.decidedBy, 'alice');
    assert.deepEqual(store.getState().approvals.deciding, {});
  });

  it('shows why a decision was refused and allows another try', async () => {
    const api = fakeApi();
    api.data.approvals = [approval({ id: 'a' })];
    const store = createAppStore(api);
    await store.getState().loadApprovals();
    api.failNext('decideApproval', '"agent-1" cannot approve its own statement');
    assert.equal(await store.getState().decideApproval('a', 'approve'), false);
    assert.match(store.getState().approvals.error ?? '', /cannot approve its own/);
    assert.equal(store.getState().approvals.byId.a!.state, 'pending');
    assert.equal(await store.getState().decideApproval('a', 'deny'), true);
    assert.equal(store.getState().approvals.byId.a!.state, 'denied');
  });

  it('keeps a bounded history and every pending approval', () => {
    const store = createAppStore(fakeApi());
    store.getState().upsertApproval(approval({ id: 'p' }));
    for (let i = 0; i < MAX_HISTORY + 20; i++) {
      store.getState().upsertApproval(approval({ id: `h${i}`, state: 'expired', decidedAt: i }));
    }
    const { byId } = store.getState().approvals;
    assert.equal(approvalHistory(byId).length, MAX_HISTORY);
    assert.ok(byId.p);
    assert.ok(byId[`h${MAX_HISTORY + 19}`]);
    assert.equal(byId.h0, undefined);
  });
});
