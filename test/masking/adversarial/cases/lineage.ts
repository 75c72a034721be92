// Cases of the "lineage" part of issue 18 (taint in lineage.ts and laundering into server state). Filled in by that part; empty until then, imported by
// index.ts so that adding cases touches only this file.
import type { MaskCase } from '../types.js';

export const LINEAGE_CASES: MaskCase[] = [];
