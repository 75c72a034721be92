// Connections (databases reachable through Bastion, one listener each) and identities (who may
// log in to which). Changes go through the API; listener state changes come back as events.

import type { StateCreator } from 'zustand/vanilla';
import type {
  BastionApi,
  ConnectionInput,
  ConnectionView,
  IdentityInput,
  IdentityView,
} from '../../../shared/api.js';
import type { AppState } from './store.js';

export interface ConnectionsState {
  list: ConnectionView[];
  identities: IdentityView[];
  loaded: boolean;
  /** What is in flight per connection ('start', 'stop', 'remove'). */
  busy: Record<string, 'start' | 'stop' | 'remove'>;
}

export interface ConnectionsSlice {
  conn: ConnectionsState;
  loadConnections(): Promise<void>;
  upsertConnection(view: ConnectionView): void;
  saveConnection(input: ConnectionInput): Promise<ConnectionView>;
  removeConnection(name: string): Promise<void>;
  startListener(name: string): Promise<ConnectionView>;
  stopListener(name: string): Promise<ConnectionView>;
  testConnection(input: ConnectionInput): Promise<{ ok: boolean; message: string }>;
  saveIdentity(input: IdentityInput): Promise<IdentityView>;
  removeIdentity(name: string): Promise<void>;
}

type ConnectionsApi = Pick<
  BastionApi,
  | 'listConnections'
  | 'listIdentities'
  | 'saveConnection'
  | 'removeConnection'
  | 'startListener'
  | 'stopListener'
  | 'testConnection'
  | 'saveIdentity'
  | 'removeIdentity'
>;

const byName = <T extends { name: string }>(a: T, b: T) => a.name.localeCompare(b.name);

function upsert<T extends { name: string }>(list: T[], item: T): T[] {
  const i = list.findIndex((x) => x.name === item.name);
  if (i < 0) return [...list, item].sort(byName);
  const out = list.slice();
  out[i] = item;
  return out;
}

export function createConnectionsSlice(
  api: ConnectionsApi,
): StateCreator<AppState, [], [], ConnectionsSlice> {
  return (set, get) => {
    const patch = (p: Partial<ConnectionsState>) => set({ conn: { ...get().conn, ...p } });
    const withBusy = async <T>(
      name: string,
      what: 'start' | 'stop' | 'remove',
      fn: () => Promise<T>,
    ): Promise<T> => {
      patch({ busy: { ...get().conn.busy, [name]: what } });
      try {
        return await fn();
      } finally {
        const busy = { ...get().conn.busy };
        delete busy[name];
        patch({ busy });
      }
    };
    return {
      conn: { list: [], identities: [], loaded: false, busy: {} },

      async loadConnections() {
        const [list, identities] = await Promise.all([api.listConnections(), api.listIdentities()]);
        patch({ list: list.sort(byName), identities: identities.sort(byName), loaded: true });
      },

      upsertConnection(view) {
        patch({ list: upsert(get().conn.list, view) });
      },

      async saveConnection(input) {
        const view = await api.saveConnection(input);
        get().upsertConnection(view);
        return view;
      },

      async removeConnection(name) {
        await withBusy(name, 'remove', () => api.removeConnection(name));
        // Identities lose the connection too: read them again.
        const identities = await api.listIdentities();
        patch({ list: get().conn.list.filter((c) => c.name !== name), identities: identities.sort(byName) });
      },

      async startListener(name) {
        const view = await withBusy(name, 'start', () => api.startListener(name));
        get().upsertConnection(view);
        return view;
      },

      async stopListener(name) {
        const view = await withBusy(name, 'stop', () => api.stopListener(name));
        get().upsertConnection(view);
        return view;
      },

      testConnection(input) {
        return api.testConnection(input);
      },

      async saveIdentity(input) {
        const view = await api.saveIdentity(input);
        patch({ identities: upsert(get().conn.identities, view) });
        return view;
      },

      async removeIdentity(name) {
        await api.removeIdentity(name);
        patch({ identities: get().conn.identities.filter((i) => i.name !== name) });
      },
    };
  };
}
