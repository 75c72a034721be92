// Every adversarial case, by class (issue 17's eight classes).
import type { Case } from '../types.js';
import { APPROVALS } from './approvals.js';
import { FUNCTIONS } from './functions.js';
import { LEXING } from './lexing.js';
import { POLICY_RELOAD } from './policy-reload.js';
import { SERVER_ENFORCED } from './server-enforced.js';
import { SERVER_FILES } from './server-files.js';
import { SQL_AS_DATA } from './sql-as-data.js';
import { WHERE } from './where.js';

export const ALL_CASES: Case[] = [
  ...LEXING,
  ...FUNCTIONS,
  ...SQL_AS_DATA,
  ...WHERE,
  ...SERVER_ENFORCED,
  ...SERVER_FILES,
  ...APPROVALS,
  ...POLICY_RELOAD,
];
