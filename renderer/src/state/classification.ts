// The Data classification screen's slice: each connection's automatically classified columns
// (detector, share of sampled values matched, the operator's decision) and the calls that decide
// them or run classification again. Decisions apply to the gateway at once (the core recompiles).

import type { StateCreator } from 'zustand/vanilla';
import type { BastionApi, ClassificationDecision, ClassificationView } from '../../../shared/api.js';
import type { AppState } from './store.js';

export interface ClassificationState {
  byConnection: Record<string, ClassificationView>;
  loading: boolean;
  /** A decision or run in flight, by "connection\0schema.table.column" or "connection". */
  busy: string | null;
  error: string | null;
}

export interface ClassificationSlice {
  classification: ClassificationState;
  loadClassifications(): Promise<void>;
  decideClassification(
    connection: string,
    column: { schema: string; table: string; column: string },
    decision: ClassificationDecision,
  ): Promise<boolean>;
  runClassification(connection: string): Promise<boolean>;
}

export function createClassificationSlice(
  api: Pick<BastionApi, 'listClassifications' | 'decideClassification' | 'runClassification'>,
  decideAs = '',
): StateCreator<AppState, [], [], ClassificationSlice> {
  return (set, get) => {
    const patch = (p: Partial<ClassificationState>) =>
      set({ classification: { ...get().classification, ...p } });
    const put = (v: ClassificationView) =>
      patch({ byConnection: { ...get().classification.byConnection, [v.connection]: v } });
    const guarded = async (busy: string, f: () => Promise<ClassificationView>): Promise<boolean> => {
      patch({ busy, error: null });
      try {
        put(await f());
        return true;
      } catch (e) {
        patch({ error: (e as Error).message });
        return false;
      } finally {
        patch({ busy: null });
      }
    };
    return {
      classification: { byConnection: {}, loading: false, busy: null, error: null },

      async loadClassifications() {
        patch({ loading: true, error: null });
        try {
          const views = await api.listClassifications(null);
          patch({ byConnection: Object.fromEntries(views.map((v) => [v.connection, v])) });
        } catch (e) {
          patch({ error: (e as Error).message });
        } finally {
          patch({ loading: false });
        }
      },

      decideClassification(connection, column, decision) {
        const key = `${connection}\0${column.schema}.${column.table}.${column.column}`;
        return guarded(key, () => api.decideClassification(connection, column, decision, decideAs));
      },

      runClassification(connection) {
        return guarded(connection, () => api.runClassification(connection));
      },
    };
  };
}
