// Cases of the "catalog" part of issue 18 (rules bound to OIDs, renames, statistics views, prepared re-Parse). Filled in by that part; empty until then, imported by
// index.ts so that adding cases touches only this file.
import type { MaskCase } from '../types.js';

export const CATALOG_CASES: MaskCase[] = [];
