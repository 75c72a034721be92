// The one API dispatcher over a real CoreService (real AppCore, a real PostgreSQL for a SQLSTATE):
// unknown methods and bad arguments get typed errors before the service, the service's own typed
// errors keep their code as data, and the outcome survives IPC's structured clone into an ApiError
// (what the Electron preload and the renderer do, minus Electron).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { emptyAppConfig } from '../../proxy/api/app-config.js';
import { createDispatcher, type Dispatch, dispatchMessage } from '../../proxy/api/dispatcher.js';
import { CoreService } from '../../proxy/api/service.js';
import { AppCore } from '../../proxy/core.js';
import { ApiError, apiOverRpc, isSqlState, type RpcOutcome } from '../../shared/rpc.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

function errorOf(outcome: RpcOutcome): { message: string; code: string } {
  assert.ok('error' in outcome, `expected an error, got ${JSON.stringify(outcome)}`);
  return outcome.error;
}

describe('API dispatcher', () => {
  let dir: string;
  let db: TestPostgres;
  let core: AppCore;
  let service: CoreService;
  let dispatch: Dispatch;
  const logged: string[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastion-dispatch-'));
    db = await startPostgres({ version: 18 });
    core = new AppCore(emptyAppConfig(path.join(dir, 'bastion.app.yaml')), quiet);
    await core.start({ tolerateListenerErrors: true });
    service = new CoreService(core, { operator: 'op', log: quiet });
    dispatch = createDispatcher(service, { log: (m) => logged.push(m) });
  });

  after(async () => {
    service?.dispose();
    await core?.stop();
    await db?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers a known method with its result, and a method without one with null', async () => {
    assert.deepEqual(await dispatch('listConnections', []), { result: [] });
    assert.deepEqual(await dispatch('listIdentities', undefined), { result: [] });
    await dispatch('saveConnection', [
      {
        name: 'gone',
        listen: '127.0.0.1:0',
        upstreamHost: '127.0.0.1',
        upstreamPort: db.port,
        upstreamUser: db.user,
        upstreamDatabase: db.database,
        sslmode: 'disable',
      },
    ]);
    assert.deepEqual(await dispatch('removeConnection', ['gone']), { result: null });
  });

  it('refuses names that are not API methods, whatever the object has', async () => {
    for (const name of ['nope', 'constructor', '__proto__', 'dispose', 'subscribe', 'toString', 42, null]) {
      const e = errorOf(await dispatch(name, []));
      assert.equal(e.code, 'unknown-method', String(name));
      assert.match(e.message, /^unknown method /);
    }
    // A host may offer fewer methods: the others are unknown there.
    const narrow = createDispatcher(service, { methods: ['listApprovals'] });
    assert.equal(errorOf(await narrow('listConnections', [])).code, 'unknown-method');
    assert.deepEqual(await narrow('listApprovals', ['pending']), { result: [] });
  });

  it('refuses malformed calls and arguments the service refuses, as bad arguments', async () => {
    assert.equal(errorOf(await dispatch('listConnections', { 0: 'x' })).code, 'bad-message');
    const many = errorOf(await dispatch('getSession', ['a', 'b']));
    assert.equal(many.code, 'bad-arguments');
    assert.match(many.message, /getSession takes at most 1 argument/);
    const refused = errorOf(await dispatch('saveConnection', [{ name: '../x' }]));
    assert.equal(refused.code, 'bad-arguments');
    assert.match(refused.message, /upstream host must be a string/);
    assert.equal(errorOf(await dispatch('listApprovals', ['sideways'])).code, 'bad-arguments');
    assert.equal(errorOf(await dispatch('readFrames', ['s', -1, 10])).code, 'bad-arguments');
    assert.deepEqual(logged, [], 'the caller’s mistakes are not logged as failures');
  });

  it('keeps the approval queue’s code and a PostgreSQL SQLSTATE as data', async () => {
    const missing = errorOf(await dispatch('decideApproval', ['no-such-approval', 'approve', 'carol']));
    assert.equal(missing.code, 'not-found');
    assert.match(missing.message, /no approval no-such-approval/);

    const url = `postgres://${db.user}@127.0.0.1:${db.port}/${db.database}?sslmode=disable`;
    const refused = errorOf(
      await dispatch('openSharedStore', [{ url, password: 'not-the-password', role: 'reader' }]),
    );
    assert.equal(refused.code, '28P01');
    assert.ok(isSqlState(refused.code));
    assert.ok(!refused.message.includes('not-the-password'));
  });

  it('an outcome carried by structured clone (as over IPC) becomes an ApiError with the same code', async () => {
    const api = apiOverRpc(async (method, params) => structuredClone(await dispatch(method, params)));
    await assert.rejects(api.decideApproval('no-such-approval', 'deny', 'carol'), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, 'not-found');
      return true;
    });
    assert.deepEqual(await api.listConnections(), []);
  });

  it('answers a socket message that is not a call with a typed error and no id', async () => {
    for (const text of ['', 'not json', '[]', 'null', '"listConnections"']) {
      const reply = await dispatchMessage(dispatch, text);
      assert.equal(reply.id, null, text);
      assert.equal(errorOf(reply).code, 'bad-message', text);
    }
    assert.deepEqual(
      await dispatchMessage(dispatch, JSON.stringify({ id: 'a1', method: 'listIdentities', params: [] })),
      { id: 'a1', result: [] },
    );
  });
});
