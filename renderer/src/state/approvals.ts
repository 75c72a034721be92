// Approvals: statements a guardrail held for a human decision. Few and slow-changing, so kept
// as plain immutable state (by id), updated from 'approval-changed' events.

import type { StateCreator } from 'zustand/vanilla';
import type { Approval, BastionApi } from '../../../shared/api.js';
import type { AppState } from './store.js';

/** Decided approvals kept in the UI. */
export const MAX_HISTORY = 1000;

export interface ApprovalsState {
  byId: Record<string, Approval>;
  loaded: boolean;
  /** The approval open in the detail pane. */
  selected: string | null;
  /** The name recorded as "decided by" (empty: the host's operator name). */
  decideAs: string;
  /** Ids with a decision in flight. */
  deciding: Record<string, 'approve' | 'deny'>;
  error: string | null;
}

export interface ApprovalsSlice {
  approvals: ApprovalsState;
  loadApprovals(): Promise<void>;
  upsertApproval(a: Approval): void;
  selectApproval(id: string | null): void;
  setDecideAs(name: string): void;
  /** Resolves true when the decision was taken, false (with `error` set) when refused. */
  decideApproval(id: string, decision: 'approve' | 'deny'): Promise<boolean>;
}

/** Pending approvals, the one expiring first first. */
export function pendingApprovals(byId: Record<string, Approval>): Approval[] {
  return Object.values(byId)
    .filter((a) => a.state === 'pending')
    .sort((a, b) => a.expiresAt - b.expiresAt || a.requestedAt - b.requestedAt);
}

/** Decided (or expired, cancelled) approvals, newest decision first. */
export function approvalHistory(byId: Record<string, Approval>): Approval[] {
  return Object.values(byId)
    .filter((a) => a.state !== 'pending')
    .sort((a, b) => (b.decidedAt ?? b.requestedAt) - (a.decidedAt ?? a.requestedAt));
}

export function pendingCount(byId: Record<string, Approval>): number {
  let n = 0;
  for (const id in byId) if (byId[id]!.state === 'pending') n++;
  return n;
}

/** Keeps every pending approval and the newest MAX_HISTORY others. */
function bounded(byId: Record<string, Approval>): Record<string, Approval> {
  const history = approvalHistory(byId);
  if (history.length <= MAX_HISTORY) return byId;
  const out = { ...byId };
  for (const a of history.slice(MAX_HISTORY)) delete out[a.id];
  return out;
}

export function createApprovalsSlice(
  api: Pick<BastionApi, 'listApprovals' | 'decideApproval'>,
  initialDecideAs = '',
): StateCreator<AppState, [], [], ApprovalsSlice> {
  return (set, get) => {
    const patch = (p: Partial<ApprovalsState>) => set({ approvals: { ...get().approvals, ...p } });
    return {
      approvals: {
        byId: {},
        loaded: false,
        selected: null,
        decideAs: initialDecideAs,
        deciding: {},
        error: null,
      },

      async loadApprovals() {
        const list = await api.listApprovals();
        const byId: Record<string, Approval> = {};
        for (const a of list) byId[a.id] = a;
        // Events that arrived while loading are at least as new as the list.
        for (const a of Object.values(get().approvals.byId)) byId[a.id] = a;
        patch({ byId: bounded(byId), loaded: true });
      },

      upsertApproval(a) {
        const current = get().approvals;
        const deciding = { ...current.deciding };
        if (a.state !== 'pending') delete deciding[a.id];
        patch({ byId: bounded({ ...current.byId, [a.id]: a }), deciding });
      },

      selectApproval(id) {
        patch({ selected: id, error: null });
      },

      setDecideAs(name) {
        patch({ decideAs: name });
      },

      async decideApproval(id, decision) {
        const current = get().approvals;
        if (current.deciding[id]) return false;
        patch({ deciding: { ...current.deciding, [id]: decision }, error: null });
        try {
          const a = await api.decideApproval(id, decision, get().approvals.decideAs.trim());
          get().upsertApproval(a);
          return true;
        } catch (e) {
          const deciding = { ...get().approvals.deciding };
          delete deciding[id];
          patch({ deciding, error: (e as Error).message });
          return false;
        }
      },
    };
  };
}
