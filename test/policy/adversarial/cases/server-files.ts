// Class 6: server-side files and settings stay server-side: COPY to/from files and programs,
// large-object file functions, file readers, and the views over the server's configuration files
// (their planted markers must never reach the client).
import { numbered, ok, refused } from './make.js';

export const SERVER_FILES = numbered('server-files', 'files', [
  refused('dflt', 'COPY table TO a server file', ["COPY adv.t TO '{{OUT}}/t.csv'"], {
    via: ['query', 'psql'],
  }),
  refused('dflt', 'COPY query TO a server file', ["COPY (SELECT 1) TO '{{OUT}}/q.csv'"], {
    via: ['query', 'psql'],
  }),
  refused('dflt', 'COPY TO PROGRAM', ["COPY (SELECT 1) TO PROGRAM 'touch {{OUT}}/prog'"], {
    via: ['query', 'psql'],
  }),
  refused('dflt', 'copy ... to program in lower case', ["copy adv.t to program 'cat > {{OUT}}/prog2'"], {
    via: ['query', 'psql'],
  }),
  refused(
    'dflt',
    'COPY FROM PROGRAM reading the marker, then SELECT',
    ['CREATE TEMP TABLE x (l text)', "COPY x FROM PROGRAM 'cat {{MARKER_FILE}}'", 'SELECT * FROM x'],
    { via: ['query', 'psql'] },
  ),
  refused(
    'dflt',
    'COPY FROM PROGRAM writing a file',
    ['CREATE TEMP TABLE y (l text)', "COPY y FROM PROGRAM 'touch {{OUT}}/p3; echo a'"],
    {
      via: ['query', 'psql'],
    },
  ),
  refused(
    'dflt',
    'COPY FROM a server file, then SELECT',
    ['CREATE TEMP TABLE z (l text)', "COPY z FROM '{{MARKER_FILE}}'", 'SELECT * FROM z'],
    { via: ['query', 'psql'] },
  ),
  refused('dflt', 'COPY TO PROGRAM inside a DO block', [
    "DO $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {{OUT}}/do'''; END $$",
  ]),
  refused('dflt', 'COPY TO a file inside a client-made function', [
    "CREATE FUNCTION adv.cp() RETURNS void LANGUAGE plpgsql AS $$ BEGIN COPY (SELECT 1) TO '{{OUT}}/fn.csv'; END $$",
    'SELECT adv.cp()',
  ]),
  refused('dflt', 'COPY TO PROGRAM by a planted function', ['SELECT adv.cp()'], {
    setup: `CREATE FUNCTION adv.cp() RETURNS void LANGUAGE plpgsql AS $$ BEGIN COPY (SELECT 1) TO PROGRAM 'touch {{OUT}}/planted'; END $$;
      GRANT EXECUTE ON FUNCTION adv.cp() TO PUBLIC`,
    cleanup: 'DROP FUNCTION adv.cp()',
    conns: ['su'],
  }),
  refused(
    'dflt',
    'COPY with the program name in a quoted-keyword spelling',
    ['COPY (SELECT 1) TO "program" \'touch {{OUT}}/q\''],
    {
      via: ['query', 'psql'],
    },
  ),
  refused('dflt', 'COPY TO a file, E-string path', ["COPY (SELECT 1) TO E'{{OUT}}/e.csv'"], {
    via: ['query', 'psql'],
  }),
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a dollar quote ($p$) before a harness placeholder, not a template
  refused('dflt', 'COPY TO a file, dollar-quoted path', ['COPY (SELECT 1) TO $p${{OUT}}/d.csv$p$'], {
    via: ['query', 'psql'],
  }),
  refused('dflt', 'lo_export of a new large object', [
    "SELECT lo_export(lo_from_bytea(0, 'x'), '{{OUT}}/lo')",
  ]),
  refused('dflt', 'lo_import then lo_get', ["SELECT lo_get(lo_import('{{MARKER_FILE}}'))"]),
  refused('dflt', 'lo_import with an explicit oid', ["SELECT lo_import('{{MARKER_FILE}}', 424242)"]),
  refused('dflt', 'pg_read_file of postgresql.conf (relative to the data directory)', [
    "SELECT pg_read_file('postgresql.conf')",
  ]),
  refused('dflt', 'pg_read_file of pg_hba.conf by absolute path', [
    "SELECT pg_read_file('{{DATA}}/pg_hba.conf')",
  ]),
  refused('dflt', 'pg_read_binary_file of pg_ident.conf, converted', [
    "SELECT convert_from(pg_read_binary_file('pg_ident.conf'), 'UTF8')",
  ]),
  refused('dflt', 'pg_hba_file_rules view', ['SELECT * FROM pg_hba_file_rules']),
  refused('dflt', 'pg_catalog.pg_hba_file_rules, one column', [
    'SELECT user_name FROM pg_catalog.pg_hba_file_rules',
  ]),
  refused('dflt', 'TABLE pg_hba_file_rules', ['TABLE pg_hba_file_rules']),
  refused('dflt', 'pg_hba_file_rules() as a function', ['SELECT * FROM pg_catalog.pg_hba_file_rules()']),
  refused('dflt', 'pg_hba_file_rules quoted', ['SELECT * FROM "pg_catalog"."pg_hba_file_rules"']),
  refused('dflt', 'pg_hba_file_rules in a CTE', [
    'WITH h AS (SELECT * FROM pg_hba_file_rules) SELECT user_name::text FROM h',
  ]),
  refused('dflt', 'pg_hba_file_rules through query_to_xml', [
    "SELECT query_to_xml('SELECT * FROM pg_hba_file_rules', true, false, '')",
  ]),
  refused('dflt', 'pg_file_settings view', ['SELECT * FROM pg_file_settings']),
  refused('dflt', 'pg_file_settings, setting column', [
    "SELECT setting FROM pg_catalog.pg_file_settings WHERE name = 'cluster_name'",
  ]),
  refused('dflt', 'pg_show_all_file_settings() function', ['SELECT * FROM pg_show_all_file_settings()']),
  refused('dflt', 'pg_file_settings via a view made by the client', [
    'CREATE TEMP VIEW fs AS SELECT * FROM pg_file_settings',
    'SELECT * FROM fs',
  ]),
  refused('dflt', 'pg_ident_file_mappings view', ['SELECT * FROM pg_ident_file_mappings'], {
    minVersion: 16,
  }),
  refused(
    'dflt',
    'pg_ident_file_mappings() function',
    ['SELECT * FROM pg_catalog.pg_ident_file_mappings()'],
    { minVersion: 16 },
  ),
  refused('dflt', 'ALTER SYSTEM SET', ["ALTER SYSTEM SET work_mem = '8MB'"], { via: ['query', 'psql'] }),
  refused(
    'dflt',
    'ALTER SYSTEM SET archive_command to a program',
    ["ALTER SYSTEM SET archive_command = 'touch {{OUT}}/arch'"],
    {
      via: ['query', 'psql'],
    },
  ),
  refused('dflt', 'CREATE EXTENSION file_fdw', ['CREATE EXTENSION IF NOT EXISTS file_fdw']),
  refused('dflt', 'pg_ls_dir of the data directory, then pg_read_file of what it lists', [
    "SELECT pg_read_file(f) FROM pg_ls_dir('.') f WHERE f = 'postgresql.conf'",
  ]),
  ok('dflt', 'control: COPY table TO STDOUT', ['COPY adv.t TO STDOUT'], { via: ['query', 'psql'] }),
  ok('dflt', 'control: SHOW work_mem', ['SHOW work_mem']),
  ok('dflt', 'control: current_setting of a harmless setting', ["SELECT current_setting('search_path')"]),
]);
