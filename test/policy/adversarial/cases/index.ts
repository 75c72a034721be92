// Every adversarial case, by class (issue 17's eight classes).
import type { Case } from '../types.js';
import { LEXING } from './lexing.js';

export const ALL_CASES: Case[] = [...LEXING];
