// The server-side state an adversarial case must not change, read over the harness's own direct
// superuser connection: canary tables (row count and checksum), the sequence, roles and their
// memberships and settings, every function, operator and cast (a rename or a new one in
// pg_catalog changes the digest), large objects, ALTER SYSTEM's file, the files the server could
// have written, a victim backend that must stay alive. Also the reset that puts it back after a
// case that got through (or a control that wrote), so that one bypass does not spoil the next case.

import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';

export const CANARIES = ['adv.canary', 'adv.t', 'adv.su_only'] as const;

/** The schema every case attacks, built again by reset(). */
export function schemaSql(appUser: string): string {
  return `
CREATE SCHEMA adv;
GRANT USAGE, CREATE ON SCHEMA adv TO ${appUser};
GRANT USAGE ON SCHEMA adv TO adv_reader;
CREATE TABLE adv.canary (id int PRIMARY KEY, v text);
INSERT INTO adv.canary SELECT g, 'row ' || g FROM generate_series(1, 10) g;
CREATE TABLE adv.t (id int PRIMARY KEY, v text);
INSERT INTO adv.t SELECT g, 'value ' || g FROM generate_series(1, 5) g;
CREATE TABLE adv.su_only (id int PRIMARY KEY, v text);
INSERT INTO adv.su_only VALUES (1, 'only the superuser writes this');
CREATE SEQUENCE adv.seq;
GRANT SELECT, INSERT, UPDATE, DELETE ON adv.canary, adv.t TO ${appUser};
GRANT SELECT ON adv.canary, adv.t TO adv_reader;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE adv.seq TO ${appUser}, adv_reader;
`;
}

/** One text per fact; two snapshots are equal when every fact is. */
export type Snapshot = Record<string, string>;

// Temporary objects die with their session, which may end only after the snapshot is read.
const TEMP_NS = `SELECT oid FROM pg_namespace WHERE nspname LIKE 'pg\\_temp\\_%' OR nspname LIKE 'pg\\_toast\\_temp\\_%'`;

const FACT_SQL: [string, string][] = [
  [
    'adv_relations',
    `SELECT coalesce(string_agg(concat_ws(':', c.relname, c.relkind, c.relowner::regrole, c.relacl, c.relrowsecurity,
       c.relhastriggers, c.relhasrules), ',' ORDER BY c.relname), '')
     FROM pg_class c WHERE c.relnamespace = to_regnamespace('adv')`,
  ],
  ['public_objects', `SELECT count(*)::text FROM pg_class WHERE relnamespace = 'public'::regnamespace`],
  [
    'roles',
    `SELECT string_agg(concat_ws(':', rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
       rolreplication, rolbypassrls, rolpassword), ',' ORDER BY rolname) FROM pg_authid`,
  ],
  [
    'members',
    `SELECT coalesce(string_agg(roleid::regrole::text || '>' || member::regrole::text, ',' ORDER BY 1), '') FROM pg_auth_members`,
  ],
  [
    'role_settings',
    `SELECT coalesce(string_agg(concat_ws(':', setdatabase, setrole, array_to_string(setconfig, ';')), ',' ORDER BY 1), '')
     FROM pg_db_role_setting`,
  ],
  [
    'functions',
    `SELECT count(*) || ':' || md5(string_agg(concat_ws(':', oid, proname, pronamespace, proowner, md5(prosrc), proconfig,
       prosecdef, provolatile, proacl), ',' ORDER BY oid)) FROM pg_proc WHERE pronamespace NOT IN (${TEMP_NS})`,
  ],
  [
    'operators',
    `SELECT count(*) || ':' || md5(string_agg(concat_ws(':', oid, oprname, oprcode::oid, oprnamespace), ',' ORDER BY oid)) FROM pg_operator`,
  ],
  [
    'casts',
    `SELECT count(*) || ':' || md5(string_agg(concat_ws(':', oid, castfunc, castcontext), ',' ORDER BY oid)) FROM pg_cast`,
  ],
  [
    'namespaces',
    `SELECT string_agg(concat_ws(':', nspname, nspowner, nspacl), ',' ORDER BY nspname) FROM pg_namespace
     WHERE nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'`,
  ],
  [
    'databases',
    `SELECT string_agg(concat_ws(':', datname, datallowconn, datconnlimit, datacl), ',' ORDER BY datname) FROM pg_database`,
  ],
  ['large_objects', `SELECT count(*)::text FROM pg_largeobject_metadata`],
  [
    'comments',
    `SELECT count(*) || ':' || md5(coalesce(string_agg(description, ',' ORDER BY objoid, objsubid), '')) FROM pg_description WHERE objoid >= 16384`,
  ],
  [
    'hooks',
    `SELECT concat_ws(':', (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal), (SELECT count(*) FROM pg_event_trigger),
       (SELECT count(*) FROM pg_rewrite WHERE ev_class >= 16384), (SELECT count(*) FROM pg_policy),
       (SELECT count(*) FROM pg_default_acl), (SELECT count(*) FROM pg_extension),
       (SELECT count(*) FROM pg_type WHERE oid >= 16384 AND typnamespace NOT IN (${TEMP_NS})), (SELECT count(*) FROM pg_language))`,
  ],
  ['victim', `SELECT count(*)::text FROM pg_stat_activity WHERE application_name = 'adv-victim'`],
];

export interface StateOptions {
  /** The data directory (for postgresql.auto.conf). */
  dataDir: string;
  /** Files the server might write land here: it must stay empty. */
  outDir: string;
}

/** Reads every fact; two round trips (the canaries' digests only for tables that still exist). */
export async function snapshot(db: pg.Client, o: StateOptions): Promise<Snapshot> {
  const s: Snapshot = {};
  const facts = (await db.query(FACT_SQL.map(([, q]) => q).join(';\n'))) as unknown as pg.QueryResult[];
  FACT_SQL.forEach(([name], i) => {
    s[name] = String(Object.values(facts[i].rows[0] ?? {})[0] ?? '');
  });
  const exists = (await db.query(`SELECT r FROM unnest($1::text[]) r WHERE to_regclass(r) IS NOT NULL`, [
    [...CANARIES, 'adv.seq'],
  ])) as pg.QueryResult<{ r: string }>;
  const present = new Set(exists.rows.map((x) => x.r));
  const digests: [string, string][] = [];
  for (const t of CANARIES) {
    if (present.has(t)) {
      digests.push([
        t,
        `SELECT count(*) || ':' || md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM ${t} x`,
      ]);
    } else s[t] = 'missing';
  }
  if (present.has('adv.seq')) digests.push(['adv.seq', `SELECT last_value || ':' || is_called FROM adv.seq`]);
  else s['adv.seq'] = 'missing';
  if (digests.length > 0) {
    const r = await db.query(digests.map(([, q]) => q).join(';\n'));
    const list = (Array.isArray(r) ? r : [r]) as pg.QueryResult[];
    digests.forEach(([name], i) => {
      s[name] = String(Object.values(list[i].rows[0] ?? {})[0] ?? '');
    });
  }
  try {
    s.auto_conf = fs.readFileSync(path.join(o.dataDir, 'postgresql.auto.conf'), 'utf8');
  } catch {
    s.auto_conf = 'missing';
  }
  s.out_dir = fs.readdirSync(o.outDir).sort().join(',');
  return s;
}

/** The facts that differ, as "name: before -> after" lines. */
export function diff(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (before[k] !== after[k]) out.push(`${k}: ${clip(before[k])} -> ${clip(after[k])}`);
  }
  return out;
}

const clip = (s: string | undefined) =>
  s === undefined ? '(none)' : s.length > 120 ? `${s.slice(0, 117)}...` : s;

/** What reset() needs to know about the state as first set up. */
export interface Baseline {
  snapshot: Snapshot;
  procs: Map<number, string>;
  operators: Set<number>;
  casts: Set<number>;
  roles: Map<string, { attrs: string; password: string | null }>;
  members: Set<string>;
  namespaces: Set<string>;
}

export async function baseline(db: pg.Client, o: StateOptions): Promise<Baseline> {
  const procs = await db.query<{ oid: number; n: string }>(
    `SELECT oid::int AS oid, pronamespace::regnamespace::text || '.' || proname AS n FROM pg_proc`,
  );
  const ops = await db.query<{ oid: number }>('SELECT oid::int AS oid FROM pg_operator');
  const casts = await db.query<{ oid: number }>('SELECT oid::int AS oid FROM pg_cast');
  const roles = await db.query<{ rolname: string; attrs: string; rolpassword: string | null }>(
    `SELECT rolname, concat_ws(' ', CASE WHEN rolsuper THEN 'SUPERUSER' ELSE 'NOSUPERUSER' END,
       CASE WHEN rolinherit THEN 'INHERIT' ELSE 'NOINHERIT' END, CASE WHEN rolcreaterole THEN 'CREATEROLE' ELSE 'NOCREATEROLE' END,
       CASE WHEN rolcreatedb THEN 'CREATEDB' ELSE 'NOCREATEDB' END, CASE WHEN rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END,
       CASE WHEN rolbypassrls THEN 'BYPASSRLS' ELSE 'NOBYPASSRLS' END) AS attrs, rolpassword
     FROM pg_authid WHERE rolname NOT LIKE 'pg\\_%'`,
  );
  const members = await db.query<{ m: string }>(
    `SELECT roleid::regrole::text || '>' || member::regrole::text AS m FROM pg_auth_members`,
  );
  const ns = await db.query<{ nspname: string }>('SELECT nspname FROM pg_namespace');
  return {
    snapshot: await snapshot(db, o),
    procs: new Map(procs.rows.map((r) => [r.oid, r.n])),
    operators: new Set(ops.rows.map((r) => r.oid)),
    casts: new Set(casts.rows.map((r) => r.oid)),
    roles: new Map(roles.rows.map((r) => [r.rolname, { attrs: r.attrs, password: r.rolpassword }])),
    members: new Set(members.rows.map((r) => r.m)),
    namespaces: new Set(ns.rows.map((r) => r.nspname)),
  };
}

const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

/**
 * Puts the server back as `base` found it, as far as a superuser can: best effort, each step on
 * its own so one failure does not stop the others. Returns the facts still different afterwards.
 */
export async function reset(
  db: pg.Client,
  base: Baseline,
  o: StateOptions,
  appUser: string,
): Promise<string[]> {
  const steps: string[] = [];
  const q = async (sql: string) => {
    try {
      await db.query(sql);
    } catch (e) {
      steps.push(`${sql.slice(0, 80)}: ${(e as Error).message}`);
    }
  };
  for (const f of fs.readdirSync(o.outDir))
    fs.rmSync(path.join(o.outDir, f), { recursive: true, force: true });
  await q('ROLLBACK');
  await q('ALTER SYSTEM RESET ALL');
  await q('SELECT pg_reload_conf()');
  // Built-ins renamed or moved: back to their names; functions, operators and casts made since: gone.
  const procs = await db.query<{ oid: number; n: string; sig: string }>(
    `SELECT oid::int AS oid, pronamespace::regnamespace::text || '.' || proname AS n, oid::regprocedure::text AS sig FROM pg_proc`,
  );
  for (const p of procs.rows) {
    const was = base.procs.get(p.oid);
    if (was === undefined) await q(`DROP ROUTINE IF EXISTS ${p.sig} CASCADE`);
    else if (was !== p.n) {
      const [schema, name] = [was.slice(0, was.indexOf('.')), was.slice(was.indexOf('.') + 1)];
      await q(`ALTER ROUTINE ${p.sig} RENAME TO ${ident(name)}`);
      const renamed = await db.query<{ sig: string }>(`SELECT $1::oid::regprocedure::text AS sig`, [p.oid]);
      await q(`ALTER ROUTINE ${renamed.rows[0].sig} SET SCHEMA ${ident(schema)}`);
    }
  }
  const ops = await db.query<{ oid: number; sig: string }>(
    'SELECT oid::int AS oid, oid::regoperator::text AS sig FROM pg_operator',
  );
  for (const op of ops.rows)
    if (!base.operators.has(op.oid)) await q(`DROP OPERATOR IF EXISTS ${op.sig} CASCADE`);
  const casts = await db.query<{ oid: number; s: string; t: string }>(
    'SELECT oid::int AS oid, castsource::regtype::text AS s, casttarget::regtype::text AS t FROM pg_cast',
  );
  for (const c of casts.rows)
    if (!base.casts.has(c.oid)) await q(`DROP CAST IF EXISTS (${c.s} AS ${c.t}) CASCADE`);
  await q('SELECT lo_unlink(oid) FROM pg_largeobject_metadata');
  await q('DROP EVENT TRIGGER IF EXISTS adv_evt');
  for (const r of (await db.query<{ evtname: string }>('SELECT evtname FROM pg_event_trigger')).rows)
    await q(`DROP EVENT TRIGGER ${ident(r.evtname)}`);
  // Roles: new ones gone, the old ones' attributes, passwords and memberships as they were.
  const roles = await db.query<{ rolname: string }>(
    `SELECT rolname FROM pg_authid WHERE rolname NOT LIKE 'pg\\_%'`,
  );
  for (const r of roles.rows) {
    if (!base.roles.has(r.rolname)) {
      await q(`DROP OWNED BY ${ident(r.rolname)} CASCADE`);
      await q(`DROP ROLE ${ident(r.rolname)}`);
    }
  }
  for (const [name, r] of base.roles) {
    await q(`ALTER ROLE ${ident(name)} ${r.attrs}`);
    await q(
      `UPDATE pg_authid SET rolpassword = ${r.password === null ? 'NULL' : lit(r.password)} WHERE rolname = ${lit(name)}`,
    );
    await q(`ALTER ROLE ${ident(name)} RESET ALL`);
    await q(`ALTER ROLE ${ident(name)} IN DATABASE appdb RESET ALL`);
  }
  await q('ALTER DATABASE appdb RESET ALL');
  await q('ALTER DATABASE appdb ALLOW_CONNECTIONS true CONNECTION LIMIT -1');
  const members = await db.query<{ r: string; m: string }>(
    'SELECT roleid::regrole::text AS r, member::regrole::text AS m FROM pg_auth_members',
  );
  const now = new Set<string>();
  for (const x of members.rows) {
    now.add(`${x.r}>${x.m}`);
    if (!base.members.has(`${x.r}>${x.m}`)) await q(`REVOKE ${x.r} FROM ${x.m} CASCADE`);
  }
  for (const m of base.members) {
    if (!now.has(m)) {
      const [r, u] = m.split('>');
      await q(`GRANT ${r} TO ${u}`);
    }
  }
  // Schemas made since: gone; adv and public: built again from nothing.
  const ns = await db.query<{ nspname: string }>('SELECT nspname FROM pg_namespace');
  for (const n of ns.rows)
    if (!base.namespaces.has(n.nspname) && !/^pg_(toast_)?temp_/.test(n.nspname))
      await q(`DROP SCHEMA ${ident(n.nspname)} CASCADE`);
  await q('DROP SCHEMA IF EXISTS adv CASCADE');
  await q(schemaSql(appUser));
  if (base.snapshot.public_objects !== (await snapshot(db, o)).public_objects) {
    await q('DROP SCHEMA public CASCADE');
    await q('CREATE SCHEMA public AUTHORIZATION pg_database_owner');
    await q('GRANT USAGE ON SCHEMA public TO PUBLIC');
  }
  const left = diff(base.snapshot, await snapshot(db, o)).filter((l) => !l.startsWith('victim'));
  return [...steps.map((s) => `reset step failed: ${s}`), ...left];
}
