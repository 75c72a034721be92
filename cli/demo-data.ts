// Synthetic customers, orders and payment cards with PII, generated deterministically.

import type pg from 'pg';

const FIRST = [
  'Ada',
  'Grace',
  'Alan',
  'Edsger',
  'Barbara',
  'Donald',
  'Frances',
  'Ken',
  'Radia',
  'Linus',
  'Margaret',
  'Dennis',
  'Hedy',
  'John',
  'Katherine',
  'Tim',
];
const LAST = [
  'Lovelace',
  'Hopper',
  'Turing',
  'Dijkstra',
  'Liskov',
  'Knuth',
  'Allen',
  'Thompson',
  'Perlman',
  'Torvalds',
  'Hamilton',
  'Ritchie',
  'Lamarr',
  'McCarthy',
  'Johnson',
  'Berners-Lee',
];
const CITIES = [
  'Springfield',
  'Riverton',
  'Lakeside',
  'Fairview',
  'Georgetown',
  'Salem',
  'Madison',
  'Clinton',
];

/** A small deterministic PRNG (mulberry32), so every demo has the same data. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function luhnComplete(prefix: string): string {
  let sum = 0;
  for (let i = 0; i < prefix.length; i++) {
    let d = Number(prefix[prefix.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return prefix + String((10 - (sum % 10)) % 10);
}

export async function seedDemoData(db: pg.Client, customers = 1000, orders = 5000): Promise<void> {
  const r = rng(42);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 10)).join('');
  await db.query(`
    CREATE TABLE customers (
      id serial PRIMARY KEY,
      full_name text NOT NULL,
      email text NOT NULL,
      phone text,
      ssn text,
      card_number text,
      city text,
      notes text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE orders (
      id serial PRIMARY KEY,
      customer_id int NOT NULL REFERENCES customers(id),
      amount numeric(10,2) NOT NULL,
      status text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE VIEW customer_contacts AS SELECT id, full_name, email, phone FROM customers;`);
  const rows: string[] = [];
  const values: unknown[] = [];
  for (let i = 0; i < customers; i++) {
    const first = pick(FIRST);
    const last = pick(LAST);
    const email = `${first}.${last}${i}@example.com`.toLowerCase();
    const phone = `+1-555-${digits(3)}-${digits(4)}`;
    const ssn = `9${digits(2)}-${digits(2)}-${digits(4)}`;
    const card = luhnComplete(`4${digits(14)}`);
    const notes = i % 10 === 0 ? `Prefers contact at ${email} or ${phone}` : null;
    const b = values.length;
    rows.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7})`);
    values.push(`${first} ${last}`, email, phone, ssn, card, pick(CITIES), notes);
    if (rows.length === 500 || i === customers - 1) {
      await db.query(
        `INSERT INTO customers (full_name, email, phone, ssn, card_number, city, notes) VALUES ${rows.join(',')}`,
        values,
      );
      rows.length = 0;
      values.length = 0;
    }
  }
  await db.query(
    `INSERT INTO orders (customer_id, amount, status, created_at)
     SELECT 1 + (g * 7919) % $1, round((10 + (g * 37) % 990)::numeric + (g % 100) / 100.0, 2),
            (ARRAY['paid','shipped','refunded','pending'])[1 + g % 4], now() - (g || ' minutes')::interval
     FROM generate_series(1, $2) g`,
    [customers, orders],
  );
  await db.query('ANALYZE');
}
