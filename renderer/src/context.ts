// React access to the store and the API client: one of each per window.

import { createContext, useContext } from 'react';
import { useStore } from 'zustand';
import type { ApiClient } from './api/client.js';
import type { AppState, AppStore } from './state/store.js';

export const StoreContext = createContext<AppStore | null>(null);
export const ApiContext = createContext<ApiClient | null>(null);

export function useAppStore(): AppStore {
  const s = useContext(StoreContext);
  if (!s) throw new Error('no store');
  return s;
}

/** Select narrowly: components re-render only when what they select changes. */
export function useApp<T>(selector: (s: AppState) => T): T {
  return useStore(useAppStore(), selector);
}

export function useApi(): ApiClient {
  const a = useContext(ApiContext);
  if (!a) throw new Error('no API client');
  return a;
}
