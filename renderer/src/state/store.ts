// The app's one zustand store: the slices combined, plus the wiring of the API's event streams
// into it (batched: statements are applied at most once per scheduled flush, e.g. per frame).

import { createStore, type StoreApi } from 'zustand/vanilla';
import type { BastionApi, BastionEvent, BastionEventSource, LiveStatement } from '../../../shared/api.js';
import { type ApprovalsSlice, createApprovalsSlice } from './approvals.js';
import { type ClassificationSlice, createClassificationSlice } from './classification.js';
import { type ConnectionsSlice, createConnectionsSlice } from './connections.js';
import { createInspectorSlice, type InspectorSlice } from './inspector.js';
import { createPoliciesSlice, type PoliciesSlice } from './policies.js';
import { createReplaySlice, type ReplaySlice } from './replay.js';
import { createReportsSlice, type ReportsSlice } from './reports.js';
import { createSessionsSlice, type SessionsSlice } from './sessions.js';
import { createStoreSourceSlice, type SharedStoreForm, type StoreSourceSlice } from './store-source.js';
import { createUiSlice, type Route, type Theme, type UiSlice } from './ui.js';

export type AppState = UiSlice &
  ConnectionsSlice &
  InspectorSlice &
  ApprovalsSlice &
  SessionsSlice &
  ReplaySlice &
  PoliciesSlice &
  ReportsSlice &
  StoreSourceSlice &
  ClassificationSlice;
export type AppStore = StoreApi<AppState>;

export interface StoreOptions {
  theme?: Theme;
  route?: Route;
  decideAs?: string;
  /** Who policy changes are recorded as ('' = the host's operator). */
  changedBy?: string;
  /** The Store screen's form as last used (never a password). */
  sharedStore?: Partial<Omit<SharedStoreForm, 'password'>>;
  now?: () => number;
}

export function createAppStore(api: BastionApi, opts: StoreOptions = {}): AppStore {
  return createStore<AppState>()((...a) => ({
    ...createUiSlice({ theme: opts.theme ?? 'dark', route: opts.route })(...a),
    ...createConnectionsSlice(api)(...a),
    ...createInspectorSlice(api, opts.now)(...a),
    ...createApprovalsSlice(api, opts.decideAs)(...a),
    ...createSessionsSlice(api)(...a),
    ...createReplaySlice(api)(...a),
    ...createPoliciesSlice(api, opts.changedBy)(...a),
    ...createReportsSlice(api, opts.now)(...a),
    ...createStoreSourceSlice(api, opts.sharedStore)(...a),
    ...createClassificationSlice(api, opts.decideAs)(...a),
  }));
}

/** Loads everything the screens show. Failures become a toast, not a crash. */
export async function loadAll(store: AppStore): Promise<void> {
  const s = store.getState();
  const results = await Promise.allSettled([
    s.loadConnections(),
    s.loadRecentStatements(),
    s.loadApprovals(),
    s.loadStoreSource(),
  ]);
  for (const r of results) {
    if (r.status === 'rejected')
      store.getState().toast('error', `Could not load: ${(r.reason as Error).message}`);
  }
}

export type Scheduler = (flush: () => void) => void;

/**
 * Applies the event streams to the store. Statements are collected and applied in one batch per
 * `schedule` call (requestAnimationFrame in the browser); the rest are rare and applied at once.
 */
export function connectEvents(
  store: AppStore,
  source: BastionEventSource,
  schedule: Scheduler = (f) => setTimeout(f, 16),
  onEvent?: (e: BastionEvent) => void,
): () => void {
  let batch: LiveStatement[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const b = batch;
    batch = [];
    store.getState().ingestStatements(b);
  };
  return source.subscribe((e) => {
    switch (e.event) {
      case 'statement':
        batch.push(e.data);
        if (!scheduled) {
          scheduled = true;
          schedule(flush);
        }
        break;
      case 'approval-changed':
        store.getState().upsertApproval(e.data);
        break;
      case 'connection-changed':
        store.getState().upsertConnection(e.data);
        break;
      case 'store-source-changed':
        store.getState().storeSourceChanged(e.data);
        break;
      default:
        break;
    }
    onEvent?.(e);
  });
}
