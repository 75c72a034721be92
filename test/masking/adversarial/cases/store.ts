// Cases of the "store" part of issue 18 (PII typed by the client, masked in the store and reports). Filled in by that part; empty until then, imported by
// index.ts so that adding cases touches only this file.
import type { MaskCase } from '../types.js';

export const STORE_CASES: MaskCase[] = [];
