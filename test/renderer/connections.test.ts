// The connections slice and the UI slice (routes, theme, toasts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAppStore } from '../../renderer/src/state/store.js';
import { MAX_TOASTS, parseRoute, routeHash } from '../../renderer/src/state/ui.js';
import { connection, fakeApi } from './fake-api.js';

describe('connections slice', () => {
  it('loads connections and identities sorted, and applies connection-changed', async () => {
    const api = fakeApi();
    api.data.connections = [connection({ name: 'zeta' }), connection({ name: 'alpha' })];
    api.data.identities = [{ name: 'bot', kind: 'password', connections: ['alpha'], policy: 'default' }];
    const store = createAppStore(api);
    await store.getState().loadConnections();
    assert.deepEqual(
      store.getState().conn.list.map((c) => c.name),
      ['alpha', 'zeta'],
    );
    store.getState().upsertConnection(connection({ name: 'zeta', state: 'failed', error: 'EADDRINUSE' }));
    assert.equal(store.getState().conn.list[1]!.error, 'EADDRINUSE');
    store.getState().upsertConnection(connection({ name: 'mid' }));
    assert.deepEqual(
      store.getState().conn.list.map((c) => c.name),
      ['alpha', 'mid', 'zeta'],
    );
  });

  it('marks a listener busy while it starts and stores the result', async () => {
    const api = fakeApi();
    api.data.connections = [connection({ name: 'app' })];
    const store = createAppStore(api);
    await store.getState().loadConnections();
    const p = store.getState().startListener('app');
    assert.equal(store.getState().conn.busy.app, 'start');
    const v = await p;
    assert.equal(v.state, 'listening');
    assert.equal(store.getState().conn.list[0]!.state, 'listening');
    assert.deepEqual(store.getState().conn.busy, {});
    api.failNext('stopListener', 'boom');
    await assert.rejects(store.getState().stopListener('app'), /boom/);
    assert.deepEqual(store.getState().conn.busy, {});
  });

  it('saves, removes (identities lose the connection) and manages identities', async () => {
    const api = fakeApi();
    api.data.connections = [connection({ name: 'app' })];
    api.data.identities = [{ name: 'bot', kind: 'password', connections: ['app'], policy: 'default' }];
    const store = createAppStore(api);
    await store.getState().loadConnections();
    await store.getState().saveConnection({
      name: 'reports',
      listen: '127.0.0.1:6433',
      upstreamHost: 'db',
      upstreamPort: 5432,
      upstreamUser: 'u',
      upstreamDatabase: 'd',
      sslmode: 'prefer',
      upstreamPassword: 'secret',
    });
    assert.deepEqual(
      store.getState().conn.list.map((c) => c.name),
      ['app', 'reports'],
    );
    await store.getState().removeConnection('app');
    assert.deepEqual(
      store.getState().conn.list.map((c) => c.name),
      ['reports'],
    );
    assert.deepEqual(store.getState().conn.identities[0]!.connections, []);
    await store
      .getState()
      .saveIdentity({ name: 'agent-1', password: 'long-enough', connections: ['reports'] });
    assert.deepEqual(
      store.getState().conn.identities.map((i) => i.name),
      ['agent-1', 'bot'],
    );
    await store.getState().removeIdentity('bot');
    assert.deepEqual(
      store.getState().conn.identities.map((i) => i.name),
      ['agent-1'],
    );
  });
});

describe('ui slice', () => {
  it('parses and writes routes', () => {
    assert.deepEqual(parseRoute('#/approvals/abc-1'), { screen: 'approvals', id: 'abc-1' });
    assert.deepEqual(parseRoute(''), { screen: 'live', id: null });
    assert.deepEqual(parseRoute('#/nonsense'), { screen: 'live', id: null });
    assert.deepEqual(parseRoute('#/connections/x'), { screen: 'connections', id: null });
    assert.equal(routeHash({ screen: 'live', id: 's1:2' }), '#/live/s1%3A2');
    assert.deepEqual(parseRoute(routeHash({ screen: 'live', id: 's1:2' })), { screen: 'live', id: 's1:2' });
  });

  it('navigates, selecting the approval or statement the route names', () => {
    const store = createAppStore(fakeApi());
    store.getState().navigate({ screen: 'approvals', id: 'a1' });
    assert.equal(store.getState().approvals.selected, 'a1');
    store.getState().navigate({ screen: 'live', id: 's:1' });
    assert.equal(store.getState().inspector.selected, 's:1');
    assert.equal(store.getState().ui.route.screen, 'live');
  });

  it('toggles the theme and keeps the newest toasts', () => {
    const store = createAppStore(fakeApi(), { theme: 'light' });
    store.getState().toggleTheme();
    assert.equal(store.getState().ui.theme, 'dark');
    const ids = Array.from({ length: MAX_TOASTS + 2 }, (_, i) => store.getState().toast('info', `t${i}`));
    assert.equal(store.getState().ui.toasts.length, MAX_TOASTS);
    store.getState().dismissToast(ids.at(-1)!);
    assert.equal(store.getState().ui.toasts.at(-1)!.text, `t${MAX_TOASTS}`);
    store.getState().setTransport('closed', 'lost');
    assert.equal(store.getState().ui.transportError, 'lost');
    store.getState().setTransport('open');
    assert.equal(store.getState().ui.transportError, null);
  });
});
