// Every masking adversarial case: the harness's seed cases and one file per part of issue 18.
// TypeScript needs static imports, so each part's file exists from the start (empty until filled).
import type { MaskCase } from '../types.js';
import { CATALOG_CASES } from './catalog.js';
import { CLASSIFY_CASES } from './classify.js';
import { LINEAGE_CASES } from './lineage.js';
import { REDTEAM_CASES } from './redteam.js';
import { RT_ECHOES_CASES } from './rt-echoes.js';
import { RT_LINEAGE_CASES } from './rt-lineage2.js';
import { RT_PLPGSQL_CASES } from './rt-plpgsql.js';
import { SEED_CASES } from './seed.js';
import { STORE_CASES } from './store.js';
import { VALUES_CASES } from './values.js';

export const ALL_CASES: MaskCase[] = [
  ...SEED_CASES,
  ...LINEAGE_CASES,
  ...VALUES_CASES,
  ...CATALOG_CASES,
  ...CLASSIFY_CASES,
  ...STORE_CASES,
  ...REDTEAM_CASES,
  ...RT_LINEAGE_CASES,
  ...RT_PLPGSQL_CASES,
  ...RT_ECHOES_CASES,
];

// Ids are what KNOWN_LEAKS and MASK_ONLY name: two cases with one id would hide each other.
const seen = new Set<string>();
for (const c of ALL_CASES) {
  if (seen.has(c.id)) throw new Error(`duplicate masking case id ${c.id}`);
  seen.add(c.id);
}
