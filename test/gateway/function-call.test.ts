// FunctionCall ('F') messages through the gateway to real PostgreSQL 18 and 15: each is decided as
// the SELECT it equals, with the argument values the message carries (text and binary formats),
// for every identity (default policy, read-only, a locked upstream role), and what a refused call
// would have done is checked on the server: the setting unchanged, the role unchanged, the
// sequence not advanced, the other backend still alive.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { AGENT, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { errorFields, int16, int32, message, RawClient, type RawMessage } from '../helpers/raw-client.js';

type Arg = string | Buffer | null;

/** A FunctionCall: every argument in `format` (a string is its UTF-8 bytes), text result. */
function functionCall(oid: number, args: Arg[], formats: number[] = []): Buffer {
  const values = args.flatMap((a) => {
    if (a === null) return [int32(-1)];
    const b = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
    return [int32(b.length), b];
  });
  return message(
    'F',
    int32(oid),
    int16(formats.length),
    ...formats.map(int16),
    int16(args.length),
    ...values,
    int16(0),
  );
}

const IDENTITIES = {
  agent: AGENT,
  reader: { name: 'reader', password: 'reader-secret' },
  locked: { name: 'locked', password: 'locked-secret' },
  guarded: { name: 'guarded', password: 'guarded-secret' },
};

for (const version of [18, 15] as const) {
  describe(`FunctionCall decided with its arguments (PostgreSQL ${version})`, () => {
    let db: TestPostgres;
    let gw: TestGateway;
    let direct: pg.Client;
    const oids = new Map<string, number>();

    before(async () => {
      db = await startPostgres({ version });
      direct = new pg.Client(db.url);
      await direct.connect();
      await direct.query(`CREATE TABLE canary (id int);
        INSERT INTO canary VALUES (1), (2);
        CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('s3cret');
        CREATE SEQUENCE canary_seq;
        CREATE ROLE app_role NOLOGIN;
        GRANT SELECT ON canary TO app_role;`);
      for (const sig of [
        'set_config(text,text,boolean)',
        'query_to_xml(text,boolean,boolean,text)',
        'table_to_xml(regclass,boolean,boolean,text)',
        'pg_read_file(text)',
        'md5(text)',
        'pg_hba_file_rules()',
      ]) {
        const r = await direct.query('SELECT $1::regprocedure::oid AS oid', [sig]);
        oids.set(sig.slice(0, sig.indexOf('(')), Number(r.rows[0].oid));
      }
      const id = (
        i: { name: string; password: string },
        extra: { policy: string; upstreamRole?: string },
      ) => ({
        name: i.name,
        password: i.password,
        oidc: null,
        connections: ['app'],
        ...extra,
      });
      gw = await startGateway(db, {
        identities: [
          id(IDENTITIES.agent, { policy: 'default' }),
          id(IDENTITIES.reader, { policy: 'readonly' }),
          id(IDENTITIES.locked, { policy: 'default', upstreamRole: 'app_role' }),
          id(IDENTITIES.guarded, { policy: 'guarded' }),
        ],
        policies: {
          readonly: { read_only: true },
          guarded: {
            guardrails: [
              { name: 'no-secrets', match: { relation: ['secrets'] }, action: 'block' },
              'default',
            ],
          },
        },
      });
    });

    after(async () => {
      await direct?.end();
      await gw?.stop();
      await db?.stop();
    });

    /** One session: the calls' answers, in order, then the session's own view of `probe`. */
    async function session(
      who: { name: string; password: string },
      calls: Buffer[],
      probe: string,
    ): Promise<{ answers: RawMessage[][]; probe: string | null }> {
      const raw = await RawClient.connect(gw.host, gw.port);
      try {
        await raw.login({ user: who.name, password: who.password });
        const answers: RawMessage[][] = [];
        for (const c of calls) {
          raw.write(c);
          answers.push(await raw.readUntil('Z', 10_000));
        }
        const r = await raw.query(probe);
        assert.deepEqual(r.errors, []);
        const row = r.rows[0].body;
        const len = row.readInt32BE(2);
        return { answers, probe: len < 0 ? null : row.toString('utf8', 6, 6 + len) };
      } finally {
        await raw.end();
      }
    }

    const refusal = (a: RawMessage[]) => {
      const e = a.find((m) => m.type === 'E');
      assert.ok(e, 'an ErrorResponse');
      return errorFields(e.body);
    };
    const result = (a: RawMessage[]) => {
      const v = a.find((m) => m.type === 'V');
      const e = a.find((m) => m.type === 'E');
      assert.ok(
        v,
        `a FunctionCallResponse, got ${e ? errorFields(e.body).M : a.map((m) => m.type).join('')}`,
      );
      const len = v.body.readInt32BE(0);
      return len < 0 ? null : v.body.toString('utf8', 4, 4 + len);
    };

    test('set_config of a lexing setting is refused (text and binary arguments); the server keeps it', async () => {
      const f = oids.get('set_config') as number;
      const s = await session(
        IDENTITIES.agent,
        [
          functionCall(f, ['standard_conforming_strings', 'off', 'f']),
          functionCall(f, ['standard_conforming_strings', 'off', Buffer.from([0])], [1]),
          functionCall(f, ['Standard_Conforming_Strings', 'off', 'false'], [0, 0, 0]),
        ],
        'SHOW standard_conforming_strings',
      );
      for (const a of s.answers) {
        const e = refusal(a);
        assert.equal(e.C, '42501');
        assert.match(e.M, /standard_conforming_strings/i);
      }
      assert.equal(s.probe, 'on');
    });

    test('set_config(role) is refused for every identity; current_user is unchanged', async () => {
      const f = oids.get('set_config') as number;
      for (const [who, role] of [
        [IDENTITIES.agent, db.user],
        [IDENTITIES.locked, db.user],
        [IDENTITIES.reader, db.user],
      ] as const) {
        const expect = who === IDENTITIES.locked ? 'app_role' : db.user;
        const s = await session(
          who,
          [functionCall(f, ['role', 'app_role', 'f']), functionCall(f, ['role', role, 'f'])],
          'SELECT current_user',
        );
        for (const a of s.answers) assert.equal(refusal(a).C, '42501');
        assert.equal(s.probe, expect, who.name);
      }
    });

    test('an argument the gateway cannot read counts as computed: refused', async () => {
      const f = oids.get('set_config') as number;
      const s = await session(
        IDENTITIES.agent,
        // Invalid UTF-8 as the setting name; a setting name in binary format as a bool-sized value.
        [functionCall(f, [Buffer.from([0xff, 0xfe]), 'x', 'f'])],
        'SHOW standard_conforming_strings',
      );
      assert.equal(refusal(s.answers[0]).C, '42501');
      assert.match(refusal(s.answers[0]).M, /computed/);
    });

    test('harmless calls still run, including set_config of an ordinary setting in a locked session', async () => {
      const s = await session(
        IDENTITIES.locked,
        [
          functionCall(oids.get('md5') as number, ['abc']),
          functionCall(oids.get('set_config') as number, ['application_name', 'via-fastpath', 'f']),
        ],
        'SHOW application_name',
      );
      assert.equal(result(s.answers[0]), '900150983cd24fb0d6963f7d28e17f72');
      assert.equal(result(s.answers[1]), 'via-fastpath');
      assert.equal(s.probe, 'via-fastpath');
    });

    test('query_to_xml runs the query in its text: the query is decided (a backend is not terminated)', async () => {
      const victim = new pg.Client(db.url);
      await victim.connect();
      try {
        const pid = (await victim.query('SELECT pg_backend_pid() AS p')).rows[0].p;
        const q = oids.get('query_to_xml') as number;
        const s = await session(
          IDENTITIES.agent,
          [
            functionCall(q, [`SELECT pg_terminate_backend(${pid})`, 't', 'f', '']),
            functionCall(q, ['SELECT * FROM pg_hba_file_rules', 't', 'f', '']),
            functionCall(q, ['DROP TABLE canary', 't', 'f', '']),
          ],
          'SELECT count(*) FROM canary',
        );
        assert.equal(refusal(s.answers[0]).C, '42501');
        assert.match(refusal(s.answers[0]).M, /no-server-functions/);
        assert.match(refusal(s.answers[1]).M, /no-server-file-views/);
        assert.match(refusal(s.answers[2]).M, /no-drop/);
        assert.equal(s.probe, '2');
        assert.equal((await victim.query('SELECT 1 AS one')).rows[0].one, 1);
      } finally {
        await victim.end();
      }
    });

    test('read_only: query_to_xml of nextval is refused; the sequence does not advance', async () => {
      const s = await session(
        IDENTITIES.reader,
        [functionCall(oids.get('query_to_xml') as number, ["SELECT nextval('canary_seq')", 't', 'f', ''])],
        'SELECT last_value || is_called::text FROM canary_seq',
      );
      assert.match(refusal(s.answers[0]).M, /read_only/);
      assert.equal(s.probe, '1false');
    });

    test('table_to_xml names the relation it dumps: a relation rule sees it', async () => {
      const t = oids.get('table_to_xml') as number;
      const s = await session(
        IDENTITIES.guarded,
        [
          functionCall(t, ['public.secrets', 't', 'f', '']),
          functionCall(t, ['"SECRETS"', 't', 'f', '']), // a different (missing) relation: not matched by name
          functionCall(t, ['canary', 't', 'f', '']),
        ],
        "SELECT 'ok'",
      );
      assert.match(refusal(s.answers[0]).M, /no-secrets/);
      assert.ok(s.answers[1].some((m) => m.type === 'E'));
      assert.match(result(s.answers[2]) ?? '', /<id>1<\/id>/);
    });

    test('pg_read_file and pg_hba_file_rules() by FunctionCall are refused', async () => {
      const s = await session(
        IDENTITIES.agent,
        [
          functionCall(oids.get('pg_read_file') as number, ['postgresql.conf']),
          functionCall(oids.get('pg_read_file') as number, ['postgresql.conf'], [1]),
          functionCall(oids.get('pg_hba_file_rules') as number, []),
        ],
        "SELECT 'ok'",
      );
      for (const a of s.answers) assert.match(refusal(a).M, /no-server-functions/);
    });
  });
}
