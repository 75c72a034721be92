// The Reports screen's slice: the report's scope (period, identity, connection) and format, and
// the export (the core builds and renders the report; the screen saves the file it returns).

import type { StateCreator } from 'zustand/vanilla';
import type { BastionApi, ReportFile, ReportFileFormat, ReportRequest } from '../../../shared/api.js';
import { localTimeToUs } from './sessions.js';
import type { AppState } from './store.js';

export interface ReportOptions {
  format: ReportFileFormat;
  /** `datetime-local` values, '' = open. */
  since: string;
  until: string;
  identity: string;
  connection: string;
}

export interface ReportsState {
  options: ReportOptions;
  running: boolean;
  error: string | null;
  /** The last export (without its bytes). */
  last: (Omit<ReportFile, 'base64'> & { at: number }) | null;
}

export interface ReportsSlice {
  reports: ReportsState;
  setReportOptions(patch: Partial<ReportOptions>): void;
  /** Builds the report; the file (to save) or null when it failed (see reports.error). */
  exportReport(): Promise<ReportFile | null>;
}

export function toReportRequest(o: ReportOptions): ReportRequest {
  const r: ReportRequest = { format: o.format };
  const since = localTimeToUs(o.since);
  const until = localTimeToUs(o.until);
  if (since !== undefined) r.since = since;
  if (until !== undefined) r.until = until + 59_999_999;
  if (o.identity) r.identity = o.identity;
  if (o.connection) r.connection = o.connection;
  return r;
}

export function createReportsSlice(
  api: Pick<BastionApi, 'exportReport'>,
  now: () => number = Date.now,
): StateCreator<AppState, [], [], ReportsSlice> {
  return (set, get) => {
    const patch = (p: Partial<ReportsState>) => set({ reports: { ...get().reports, ...p } });
    return {
      reports: {
        options: { format: 'pdf', since: '', until: '', identity: '', connection: '' },
        running: false,
        error: null,
        last: null,
      },

      setReportOptions(p) {
        patch({ options: { ...get().reports.options, ...p } });
      },

      async exportReport() {
        const o = get().reports.options;
        const since = localTimeToUs(o.since);
        const until = localTimeToUs(o.until);
        if (since !== undefined && until !== undefined && since > until) {
          patch({ error: 'The period starts after it ends' });
          return null;
        }
        patch({ running: true, error: null });
        try {
          const file = await api.exportReport(toReportRequest(o));
          const { base64: _bytes, ...rest } = file;
          patch({ running: false, last: { ...rest, at: now() } });
          return file;
        } catch (e) {
          patch({ running: false, error: (e as Error).message });
          return null;
        }
      },
    };
  };
}
