// Numbers the cases of one class in the order they are written: ids such as "lex-012" are what
// KNOWN_BYPASSES lists, so new cases go at the end of their file, never in between.
import type { Case, CaseClass } from '../types.js';

export type Draft = Omit<Case, 'id' | 'cls'>;

export function numbered(cls: CaseClass, prefix: string, drafts: Draft[]): Case[] {
  return drafts.map((d, i) => ({ ...d, id: `${prefix}-${String(i + 1).padStart(3, '0')}`, cls }));
}

/** A refusal case: the statements must not change anything on the server. */
export const refused = (
  identity: Case['identity'],
  desc: string,
  sql: string[],
  more: Partial<Draft> = {},
): Draft => ({
  identity,
  desc,
  sql,
  expect: 'refused',
  ...more,
});

/** A control: legitimate statements that must keep working. */
export const ok = (
  identity: Case['identity'],
  desc: string,
  sql: string[],
  more: Partial<Draft> = {},
): Draft => ({
  identity,
  desc,
  sql,
  expect: 'ok',
  ...more,
});
