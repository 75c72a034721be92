// Problems of policies YAML found in the editor as you type: YAML syntax, then the JSON schema
// (from getPolicies), each placed on the text (1-based lines and columns, as Monaco wants them).
// The gateway's own checks (validatePolicies) run after these, when the text passes them.

import { LineCounter, type Node, parseDocument } from 'yaml';
import type { PolicyProblem } from '../../../shared/api.js';
import { locateKeyPath } from '../../../shared/yaml-key-path.js';
import { keyPathOf, type Schema, validate } from './json-schema.js';

export function policyTextProblems(text: string, schema: Schema | null): PolicyProblem[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  if (doc.errors.length > 0) {
    return doc.errors.map((e) => {
      const [from, to] = e.linePos ?? [{ line: 1, col: 1 }];
      return {
        // Without the context lines and position `yaml` adds: the editor shows where.
        message: e.message
          .split('\n')[0]
          .trim()
          .replace(/ at line \d+, column \d+:?$/, ''),
        keyPath: null,
        line: from.line,
        column: from.col,
        endLine: to?.line ?? from.line,
        endColumn: to && (to.line !== from.line || to.col > from.col) ? to.col : from.col + 1,
        severity: 'error',
        source: 'yaml',
      };
    });
  }
  if (!schema) return [];
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return [
      {
        message: (e as Error).message,
        keyPath: null,
        line: 1,
        column: 1,
        endLine: 1,
        endColumn: 2,
        severity: 'error',
        source: 'yaml',
      },
    ];
  }
  return validate(schema, value ?? null).map((err) => {
    const keyPath = keyPathOf(err.path);
    return {
      message: err.message,
      keyPath,
      ...locateKeyPath(doc.contents as Node | null, lc, keyPath, text, err.onKey === true),
      severity: 'error' as const,
      source: 'schema' as const,
    };
  });
}

/** Problems by line, for the list under the editor. */
export function sortProblems(problems: readonly PolicyProblem[]): PolicyProblem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.column - b.column);
}
