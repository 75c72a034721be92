// Cases of the "values" part of issue 18 (detectors on every type, errors, notices and notifications). Filled in by that part; empty until then, imported by
// index.ts so that adding cases touches only this file.
import type { MaskCase } from '../types.js';

export const VALUES_CASES: MaskCase[] = [];
