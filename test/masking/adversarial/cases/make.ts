// Builders of masking cases shared by the case files: each file numbers its cases in order under
// its own prefix (`seed-001`, `cat-001`...), the ids KNOWN_LEAKS and MASK_ONLY name.
import type { MaskCase } from '../types.js';

export function caseMaker(prefix: string) {
  let n = 0;
  const id = () => `${prefix}-${String(++n).padStart(3, '0')}`;
  const leak = (
    cls: MaskCase['cls'],
    desc: string,
    sql: string | string[],
    more: Partial<MaskCase> = {},
  ): MaskCase => ({ id: id(), cls, desc, sql: Array.isArray(sql) ? sql : [sql], kind: 'leak', ...more });
  const control = (
    cls: MaskCase['cls'],
    desc: string,
    sql: string | string[],
    expect: string,
    more: Partial<MaskCase> = {},
  ): MaskCase => ({
    id: id(),
    cls,
    desc,
    sql: Array.isArray(sql) ? sql : [sql],
    kind: 'control',
    expect,
    ...more,
  });
  return { leak, control };
}
