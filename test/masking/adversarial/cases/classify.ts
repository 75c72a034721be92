// Cases of the "classify" part of issue 18 (automatic PII column classification). Filled in by that part; empty until then, imported by
// index.ts so that adding cases touches only this file.
import type { MaskCase } from '../types.js';

export const CLASSIFY_CASES: MaskCase[] = [];
