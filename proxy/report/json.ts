// JSON: the complete report, for tools. `checkReportDigest(JSON.parse(text))` recomputes its digest.

import type { AuditReport } from './types.js';

export function toJson(report: AuditReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
