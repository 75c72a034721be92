// The Store screen's slice: which store the app reads (its own, or a team's shared PostgreSQL
// store opened with the operator's own role and password), the form that opens one, and what a
// switch must reload (approvals, the inspector's backfill, the sessions page). The password is
// in the form only until it is sent: the host keeps it, the renderer forgets it.

import type { StateCreator } from 'zustand/vanilla';
import type { BastionApi, StoreRole, StoreSourceView } from '../../../shared/api.js';
import type { AppState } from './store.js';

export interface SharedStoreForm {
  url: string;
  password: string;
  role: StoreRole;
  /** Who decisions are recorded as ('' = the host's operator). */
  as: string;
}

export interface StoreSourceState {
  /** What the host reads now; null until loaded. */
  view: StoreSourceView | null;
  form: SharedStoreForm;
  /** A connect or disconnect in flight. */
  busy: boolean;
  /** Why the last connect or disconnect failed (shown under the form). */
  error: string | null;
}

export interface StoreSourceSlice {
  storeSource: StoreSourceState;
  loadStoreSource(): Promise<void>;
  setSharedStoreForm(patch: Partial<SharedStoreForm>): void;
  /** Opens the form's store; true when the app now reads it. */
  openSharedStore(): Promise<boolean>;
  /** Back to the configured store. */
  closeSharedStore(): Promise<boolean>;
  /** The host switched (an event, or another window): reload what the screens show. */
  storeSourceChanged(view: StoreSourceView): void;
}

/** The URL without a password typed into it (what may be remembered between runs). */
export function withoutPassword(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@/]*@/i, '$1@');
}

/** What the header badge says: "shared: auditor@audit-db/audit", "local: bastion.db". */
export function storeBadge(view: StoreSourceView): string {
  return `${view.kind}: ${view.label}`;
}

export function createStoreSourceSlice(
  api: Pick<BastionApi, 'storeSource' | 'openSharedStore' | 'closeSharedStore'>,
  initial: Partial<Omit<SharedStoreForm, 'password'>> = {},
): StateCreator<AppState, [], [], StoreSourceSlice> {
  return (set, get) => {
    const patch = (p: Partial<StoreSourceState>) => set({ storeSource: { ...get().storeSource, ...p } });

    /** Everything the screens loaded came from the other store. */
    const reload = () => {
      const s = get();
      s.clearStatements();
      set({ approvals: { ...s.approvals, byId: {}, selected: null, error: null } });
      void Promise.allSettled([
        s.loadRecentStatements(),
        s.loadApprovals(),
        s.sessions.result || s.sessions.statements ? s.runSessionsSearch() : Promise.resolve(),
      ]);
    };

    const switched = (view: StoreSourceView) => {
      const before = get().storeSource.view;
      patch({ view });
      const same =
        before !== null &&
        before.kind === view.kind &&
        before.store === view.store &&
        before.role === view.role &&
        before.openedAt === view.openedAt;
      if (!same && before !== null) reload();
    };

    return {
      storeSource: {
        view: null,
        form: {
          url: initial.url ?? '',
          password: '',
          role: initial.role === 'approver' ? 'approver' : 'reader',
          as: initial.as ?? '',
        },
        busy: false,
        error: null,
      },

      async loadStoreSource() {
        switched(await api.storeSource());
      },

      setSharedStoreForm(p) {
        patch({ form: { ...get().storeSource.form, ...p } });
      },

      async openSharedStore() {
        const f = get().storeSource.form;
        if (f.url.trim() === '') {
          patch({
            error: 'Give the store URL, e.g. postgres://auditor@audit-db:5432/audit?sslmode=verify-full',
          });
          return false;
        }
        patch({ busy: true, error: null });
        try {
          const view = await api.openSharedStore({
            url: f.url.trim(),
            password: f.password === '' ? null : f.password,
            role: f.role,
            as: f.as.trim() === '' ? null : f.as.trim(),
          });
          // The host has it now; the renderer does not keep it (nor a password typed into the URL).
          patch({
            busy: false,
            form: { ...get().storeSource.form, password: '', url: withoutPassword(f.url.trim()) },
          });
          switched(view);
          return true;
        } catch (e) {
          patch({ busy: false, error: (e as Error).message });
          return false;
        }
      },

      async closeSharedStore() {
        patch({ busy: true, error: null });
        try {
          const view = await api.closeSharedStore();
          patch({ busy: false });
          switched(view);
          return true;
        } catch (e) {
          patch({ busy: false, error: (e as Error).message });
          return false;
        }
      },

      storeSourceChanged(view) {
        switched(view);
      },
    };
  };
}
