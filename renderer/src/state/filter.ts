// The live inspector's filter: plain functions, shared by the slice and its tests.

import type { LiveStatement } from '../../../shared/api.js';
import type { Decision } from '../../../shared/types.js';

/** '' = any; 'error' = statements that ended in an error, whatever the decision. */
export type DecisionFilter = '' | Decision | 'error';

export interface InspectorFilter {
  /** Case-insensitive text found in the statement, its error, tag, identity or connection. */
  text: string;
  identity: string;
  connection: string;
  decision: DecisionFilter;
}

export const EMPTY_FILTER: InspectorFilter = { text: '', identity: '', connection: '', decision: '' };

export function isFilterEmpty(f: InspectorFilter): boolean {
  return f.text.trim() === '' && f.identity === '' && f.connection === '' && f.decision === '';
}

export function statementKey(s: { sessionId: string; seq: number }): string {
  return `${s.sessionId}:${s.seq}`;
}

/** A compiled filter: lower-cases the text once, not per statement. */
export function compileFilter(f: InspectorFilter): (s: LiveStatement) => boolean {
  const text = f.text.trim().toLowerCase();
  const { identity, connection, decision } = f;
  if (!text && !identity && !connection && !decision) return () => true;
  return (s) => {
    if (identity && s.identity !== identity) return false;
    if (connection && s.connection !== connection) return false;
    if (decision === 'error') {
      if (s.errorCode === null) return false;
    } else if (decision && s.decision !== decision) {
      return false;
    }
    if (!text) return true;
    return (
      s.sql.toLowerCase().includes(text) ||
      s.identity.toLowerCase().includes(text) ||
      s.connection.toLowerCase().includes(text) ||
      (s.errorMessage?.toLowerCase().includes(text) ?? false) ||
      s.errorCode?.toLowerCase() === text ||
      (s.tag?.toLowerCase().includes(text) ?? false)
    );
  };
}

/** Total masked values of a statement (all rules). */
export function maskedCount(s: { masked: Record<string, number> }): number {
  let n = 0;
  for (const k in s.masked) n += s.masked[k] ?? 0;
  return n;
}
