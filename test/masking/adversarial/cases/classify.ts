// Adversarial cases for automatic PII column classification (issue 18 item 5), prefix `cls-`.
// The built-in default policy (identity `dflt`) masks only what its detectors recognise unless
// classification turned pii.customers / pii.numbers / pii.docs columns into auto column rules:
// every case here transforms a classified column in a way no detector recognises, so only the
// auto rules (through lineage) can mask it. The `rules` identity has its own column rules.

import { defaultForms, PII_ROWS } from '../data.js';
import type { MaskCase } from '../types.js';

const rev = (s: string) => [...s].reverse().join('');
const digits = (s: string) => s.replace(/\D/g, '');
/** Forms of a transformed canary: the default ones plus those given. */
const plus =
  (...f: ((s: string) => string)[]) =>
  (s: string): string[] => [...defaultForms(s), ...f.map((g) => g(s))];
const dflt = ['dflt'] as const;

export const CLASSIFY_CASES: MaskCase[] = [
  {
    id: 'cls-001',
    cls: 'transforms',
    desc: 'reverse(email): the reversed local part must not show, even where the reversal is email-shaped',
    identities: [...dflt],
    sql: ['SELECT reverse(email) FROM pii.customers ORDER BY id'],
    kind: 'leak',
    reveal: plus((s) => rev(s.split('@')[0] ?? s)),
  },
  {
    id: 'cls-002',
    cls: 'transforms',
    desc: "replace(ssn, '-', ''): the SSN's digits without separators",
    identities: [...dflt],
    sql: ["SELECT replace(ssn, '-', '') FROM pii.customers ORDER BY id"],
    kind: 'leak',
  },
  {
    id: 'cls-003',
    cls: 'transforms',
    desc: 'translate(card, digits, letters): a character mapping of the card number',
    identities: [...dflt],
    sql: ["SELECT translate(card, '0123456789', 'abcdefghij') FROM pii.customers ORDER BY id"],
    kind: 'leak',
    reveal: plus((s) => s.replace(/\d/g, (d) => 'abcdefghij'[Number(d)] ?? d)),
  },
  {
    id: 'cls-004',
    cls: 'transforms',
    desc: 'substr pieces of the SSN rejoined with spaces',
    identities: [...dflt],
    sql: ["SELECT substr(ssn, 1, 3) || ' ' || substr(ssn, 5, 2) || ' ' || substr(ssn, 8) FROM pii.customers"],
    kind: 'leak',
    reveal: plus((s) => s.replace(/-/g, ' ')),
  },
  {
    id: 'cls-005',
    cls: 'transforms',
    desc: 'regexp_replace(phone, non-digits, empty): the bare phone digits',
    identities: [...dflt],
    sql: ["SELECT regexp_replace(phone, '\\D', '', 'g') FROM pii.customers"],
    kind: 'leak',
    reveal: plus(digits),
  },
  {
    id: 'cls-006',
    cls: 'transforms',
    desc: 'characters spread out: the email one character per space',
    identities: [...dflt],
    sql: ["SELECT regexp_replace(email, '(.)', '\\1 ', 'g') FROM pii.customers"],
    kind: 'leak',
    reveal: plus((s) => [...s].join(' ')),
  },
  {
    id: 'cls-007',
    cls: 'transforms',
    desc: 'characters as rows, aggregated back with a separator',
    identities: [...dflt],
    sql: [
      "SELECT string_agg(ch, '|' ORDER BY n) FROM pii.customers, regexp_split_to_table(email, '') WITH ORDINALITY AS t(ch, n) GROUP BY id",
    ],
    kind: 'leak',
    reveal: plus((s) => [...s].join('|')),
  },
  {
    id: 'cls-008',
    cls: 'transforms',
    desc: 'character codes of the SSN as an array',
    identities: [...dflt],
    sql: ["SELECT array_agg(ascii(ch)) FROM pii.customers, regexp_split_to_table(ssn, '') ch GROUP BY id"],
    kind: 'leak',
    reveal: plus((s) => [...s].map((c) => c.charCodeAt(0)).join(',')),
  },
  {
    id: 'cls-009',
    cls: 'types',
    desc: 'a numeric card column (classified from its values) reversed as text',
    identities: [...dflt],
    sql: ['SELECT reverse(card_num::text) FROM pii.numbers'],
    kind: 'leak',
  },
  {
    id: 'cls-010',
    cls: 'transforms',
    desc: 'a JSON column holding emails: the email taken out and reversed',
    identities: [...dflt],
    sql: ["SELECT reverse(profile -> 'contact' ->> 'email') FROM pii.docs"],
    kind: 'leak',
    reveal: plus((s) => rev(s.split('@')[0] ?? s)),
  },
  {
    id: 'cls-011',
    cls: 'transforms',
    desc: 'free text holding cards and SSNs, reversed',
    identities: [...dflt],
    sql: ['SELECT reverse(note) FROM pii.docs'],
    kind: 'leak',
  },
  {
    id: 'cls-012',
    cls: 'transforms',
    desc: 'the reversed email in base64 (decoded by the detectors, but not recognised reversed)',
    identities: [...dflt],
    sql: ["SELECT encode(convert_to(reverse(email), 'UTF8'), 'base64') FROM pii.customers"],
    kind: 'leak',
    reveal: plus((s) => Buffer.from(rev(s)).toString('base64')),
  },
  {
    id: 'cls-013',
    cls: 'transforms',
    desc: 'the card with every digit shifted by one (a translate the detectors cannot undo)',
    identities: [...dflt],
    sql: ["SELECT translate(card, '0123456789', '1234567890') FROM pii.customers"],
    kind: 'leak',
    reveal: plus((s) => s.replace(/\d/g, (d) => String((Number(d) + 1) % 10))),
  },
  {
    id: 'cls-014',
    cls: 'transforms',
    desc: 'overlay and lpad pieces of the phone, rejoined in another order',
    identities: [...dflt],
    sql: ["SELECT right(phone, 4) || ':' || left(phone, length(phone) - 4) FROM pii.customers"],
    kind: 'leak',
    reveal: plus((s) => `${s.slice(-4)}:${s.slice(0, -4)}`),
  },
  {
    id: 'cls-015',
    cls: 'transforms',
    desc: 'a view over a classified column that reverses it',
    identities: [...dflt],
    setup: 'CREATE VIEW pii.cls_rev AS SELECT id, reverse(email) AS r FROM pii.customers',
    cleanup: 'DROP VIEW IF EXISTS pii.cls_rev',
    sql: ['SELECT r FROM pii.cls_rev'],
    kind: 'leak',
    reveal: plus((s) => rev(s.split('@')[0] ?? s)),
  },
  {
    id: 'cls-016',
    cls: 'transforms',
    desc: 'control: a column classification did not flag stays exact',
    identities: [...dflt],
    sql: ['SELECT full_name FROM pii.customers WHERE id = 1'],
    kind: 'control',
    expect: PII_ROWS[0]?.full_name,
  },
  {
    id: 'cls-017',
    cls: 'transforms',
    desc: 'control: aggregates over classified columns keep working',
    identities: [...dflt],
    sql: ["SELECT count(*) || ' rows' FROM pii.customers WHERE email LIKE '%@maskcanary.test'"],
    kind: 'control',
    expect: '3 rows',
  },
];
