// The API's classification calls (shared/api.ts listClassifications, decideClassification,
// runClassification): argument checks and views over the core's Classifier.

import type { ClassificationDecision, ClassificationView, ClassifiedColumn } from '../../shared/api.js';
import type { Classifier } from '../classification.js';
import type { ClassDecision } from '../masking/classify.js';
import { STRATEGIES, type Strategy } from '../masking/rules.js';
import { InputError, str } from './validate.js';

export function classificationView(classifier: Classifier, connection: string): ClassificationView {
  const columns: ClassifiedColumn[] = classifier.list(connection).map((c) => ({
    connection,
    schema: c.schema,
    table: c.table,
    column: c.column,
    detector: c.detector,
    share: c.share,
    sampled: c.sampled,
    state: c.state,
    strategy: c.strategy,
    classifiedAt: c.classifiedAt,
    decidedBy: c.decidedBy,
    decidedAt: c.decidedAt,
  }));
  return { connection, columns, ...classifier.status(connection) };
}

export function checkColumn(raw: unknown): { schema: string; table: string; column: string } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new InputError('column must be an object');
  const o = raw as Record<string, unknown>;
  return {
    schema: str(o.schema, 'column.schema', 200),
    table: str(o.table, 'column.table', 200),
    column: str(o.column, 'column.column', 200),
  };
}

export function checkDecision(raw: unknown): ClassDecision {
  if (raw === 'accept') return { state: 'accepted', strategy: null };
  if (raw === 'exclude') return { state: 'excluded', strategy: null };
  if (raw === 'auto') return { state: 'auto', strategy: null };
  const s = raw !== null && typeof raw === 'object' ? (raw as { strategy?: unknown }).strategy : undefined;
  if (typeof s === 'string' && (STRATEGIES as readonly string[]).includes(s))
    return { state: 'changed', strategy: s as Strategy };
  throw new InputError(
    `decision must be 'accept', 'exclude', 'auto' or { strategy: ${STRATEGIES.map((x) => `'${x}'`).join(' | ')} }`,
  );
}

export type { ClassificationDecision };
