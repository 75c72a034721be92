// Per-connection retention: `retention` in the config prunes closed sessions past it, on its own
// when serve starts (and hourly); the prune is a chained record, and the store still verifies.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { bastion, startBastion, tempDir } from '../helpers/cli.js';
import { runPsql } from '../helpers/clients.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let db: TestPostgres;
let tmp: ReturnType<typeof tempDir>;

before(async () => {
  db = await startPostgres({ version: 18 });
  tmp = tempDir();
});

after(async () => {
  await db?.stop();
  tmp?.remove();
});

test('sessions past the retention period are pruned at start and the chain still verifies', async () => {
  const config = path.join(tmp.dir, 'bastion.yaml');
  const write = (retention: string) =>
    fs.writeFileSync(
      config,
      `store: ./audit.db
connections:
  - name: app
    listen: 127.0.0.1:0
    upstream: postgres://${db.user}:\${UP_PW}@127.0.0.1:${db.port}/${db.database}?sslmode=disable
    retention: ${retention}
identities:
  - name: agent-1
    password: agent-secret
    connections: [app]
`,
    );
  const env = { UP_PW: db.password };
  write('90d');
  let serve = await startBastion(['serve', '--config', config, '--no-ui'], { env });
  const port = serve.ports().get('app')!;
  const target = { host: '127.0.0.1', port, user: 'agent-1', password: 'agent-secret', database: 'x' };
  for (let i = 0; i < 3; i++) assert.equal((await runPsql(['-c', 'SELECT 1'], target)).code, 0);
  assert.equal((await serve.stop()).code, 0);
  const listed = async () =>
    JSON.parse(
      (await bastion(['sessions', 'list', '--config', config, '--json'], { env })).stdout,
    ) as unknown[];
  assert.equal((await listed()).length, 3, '90 days keeps them');

  write('1ms');
  serve = await startBastion(['serve', '--config', config, '--no-ui'], { env });
  try {
    assert.match(serve.stderr(), /retention: pruned/);
    assert.equal((await listed()).length, 0, 'pruned');
    const v = await bastion(['verify', '--config', config], { env });
    assert.equal(v.code, 0, v.stdout + v.stderr);
  } finally {
    assert.equal((await serve.stop()).code, 0);
  }
  const bad = path.join(tmp.dir, 'bad.yaml');
  fs.writeFileSync(bad, fs.readFileSync(config, 'utf8').replace('retention: 1ms', 'retention: forever'));
  const r = await bastion(['verify', '--config', bad], { env });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.yaml:6: connections\[0\]\.retention: expected a duration/);
});
