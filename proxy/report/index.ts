// Audit reports: build one from a store, render it as JSON, CSV, HTML or PDF.

import { toCsv } from './csv.js';
import { toHtml } from './html.js';
import { toJson } from './json.js';
import type { PdfOptions } from './pdf.js';
import type { AuditReport, ReportFormat } from './types.js';

export { buildReport, canonicalJson, checkReportDigest, reportDigest, statementKind } from './build.js';
export { CSV_COLUMNS, csvField, toCsv } from './csv.js';
export { escapeHtml, toHtml } from './html.js';
export { toJson } from './json.js';
export * from './types.js';

/** The report in `format`, as the bytes of a file. */
export async function renderReport(
  report: AuditReport,
  format: ReportFormat,
  pdf: PdfOptions = {},
): Promise<Buffer> {
  switch (format) {
    case 'json':
      return Buffer.from(toJson(report), 'utf8');
    case 'csv':
      return Buffer.from(toCsv(report), 'utf8');
    case 'html':
      return Buffer.from(toHtml(report), 'utf8');
    case 'pdf': {
      // pdfkit and its fonts cost tens of MB: loaded when a PDF is asked for, not by every gateway.
      const { toPdf } = await import('./pdf.js');
      return toPdf(report, pdf);
    }
  }
}
