// The data the masking adversarial corpus protects: a schema of synthetic PII whose every value is
// a canary. A case passes when no canary (nor any form `reveal` derives from it) appears in any
// byte the client received, in the store, or in an exported report.
//
// Two policies read it (see types.ts Identity): `rules` names the sensitive columns in column
// rules; `dflt` is the built-in default (detectors, plus automatic classification once built),
// which must still protect every value a detector recognises.

/** One protected row. Card numbers pass the Luhn check; SSNs and phones are valid shapes. */
export interface PiiRow {
  id: number;
  full_name: string;
  email: string;
  ssn: string;
  card: string;
  phone: string;
  /** Letters only: no detector recognises it, so only a column rule protects it. */
  secret: string;
}

export const PII_ROWS: readonly PiiRow[] = [
  {
    id: 1,
    full_name: 'Zoe Quist',
    email: 'zoe.quist4821@maskcanary.test',
    ssn: '523-71-4829',
    card: '4539 1488 0343 6467',
    phone: '(415) 555-0134',
    secret: 'qvxlorbitzenfaltwump',
  },
  {
    id: 2,
    full_name: 'Idris Varga',
    email: 'idris.varga9307@maskcanary.test',
    ssn: '614-28-3075',
    card: '5555-5555-5555-4444',
    phone: '+1-312-555-0178',
    secret: 'plonkwhistmarrowquib',
  },
  {
    id: 3,
    full_name: 'Mei Okonkwo',
    email: 'mei.okonkwo1766@maskcanary.test',
    ssn: '271-64-9013',
    card: '371449635398431',
    phone: '212.555.0199',
    secret: 'grindlefoxtrumpetvex',
  },
];

/** Columns of pii.customers that the `rules` policy masks, with the strategy of each rule. */
export const RULE_COLUMNS = ['email', 'ssn', 'card', 'phone', 'secret'] as const;

/**
 * The schema, created by the harness's superuser before the gateway starts. pii.customers holds
 * the rows as text; pii.numbers holds the same SSNs and cards as numbers (a numeric column carries
 * PII too); pii.docs holds them inside JSON and free text. The gateway's upstream user owns
 * nothing here but may read and write everything (an ordinary application role).
 */
export function schemaSql(appUser: string): string {
  const q = (s: string) => `'${s.replaceAll("'", "''")}'`;
  const rows = PII_ROWS.map(
    (r) =>
      `(${r.id}, ${q(r.full_name)}, ${q(r.email)}, ${q(r.ssn)}, ${q(r.card)}, ${q(r.phone)}, ${q(r.secret)})`,
  ).join(',\n    ');
  const numbers = PII_ROWS.map(
    (r) => `(${r.id}, ${r.ssn.replaceAll('-', '')}, ${r.card.replace(/\D/g, '')})`,
  ).join(', ');
  const docs = PII_ROWS.map(
    (r) =>
      `(${r.id}, ${q(JSON.stringify({ contact: { email: r.email, phone: r.phone }, tier: 'gold' }))}, ${q(
        `Customer ${r.full_name} paid with ${r.card}; SSN on file ${r.ssn}.`,
      )})`,
  ).join(',\n    ');
  return `CREATE SCHEMA pii;
  CREATE TABLE pii.customers (id int PRIMARY KEY, full_name text, email text, ssn text, card text,
    phone text, secret text);
  INSERT INTO pii.customers VALUES
    ${rows};
  CREATE TABLE pii.numbers (id int PRIMARY KEY, ssn_num bigint, card_num numeric);
  INSERT INTO pii.numbers VALUES ${numbers};
  CREATE TABLE pii.docs (id int PRIMARY KEY, profile jsonb, note text);
  INSERT INTO pii.docs VALUES
    ${docs};
  ANALYZE pii.customers, pii.numbers, pii.docs;
  GRANT USAGE, CREATE ON SCHEMA pii TO ${appUser};
  GRANT ALL ON ALL TABLES IN SCHEMA pii TO ${appUser};
  -- GRANT ... ON DATABASE takes a name, not CURRENT_DATABASE: the name comes from the server.
  DO $grant$ BEGIN
    EXECUTE format('GRANT CREATE ON DATABASE %I TO %I', current_database(), ${q(appUser)});
  END $grant$;
  -- A table of no PII at all: controls check that masking leaves it untouched.
  CREATE TABLE pii.other (id int PRIMARY KEY, label text, note text);
  INSERT INTO pii.other VALUES (1, 'plain-label-one', 'nothing to see'), (2, 'plain-label-two', NULL);
  GRANT ALL ON pii.other TO ${appUser};`;
}

/** Every protected value (what `rules` protects; `dflt` protects all but the secrets). */
export function canaries(identity: 'rules' | 'dflt'): string[] {
  const out: string[] = [];
  for (const r of PII_ROWS) {
    out.push(r.email, r.ssn, r.card, r.phone);
    if (identity === 'rules') out.push(r.secret);
  }
  return out;
}

/**
 * The forms a leaked canary is searched for by default: as stored, without its separators (a
 * card or SSN with the dashes stripped), reversed, and upper- and lower-cased. Cases that launder
 * a value some other way say how in `reveal`.
 */
export function defaultForms(secret: string): string[] {
  const forms = new Set([secret, secret.toUpperCase(), secret.toLowerCase()]);
  const digits = secret.replace(/\D/g, '');
  if (digits.length >= 9 && !/[a-z]/i.test(secret)) forms.add(digits);
  forms.add([...secret].reverse().join(''));
  return [...forms];
}
