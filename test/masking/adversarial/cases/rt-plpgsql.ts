// Red-team pass 18b findings of part "plpgsql" (issue 18), as cases: filled in by that part.
import type { MaskCase } from '../types.js';

export const RT_PLPGSQL_CASES: MaskCase[] = [];
