// Navigation, theme, toasts, the connection to the host. Routes live in the URL hash
// (#/live, #/live/<statement>, #/approvals/<id>, #/connections, #/sessions,
// #/replay/<session>[/<frame>], #/policies, #/reports, #/store, #/classification) so that a notification can open an
// approval directly and a replay position can be shared.

import type { StateCreator } from 'zustand/vanilla';
import type { AppState } from './store.js';

export type Screen =
  | 'live'
  | 'approvals'
  | 'connections'
  | 'sessions'
  | 'replay'
  | 'policies'
  | 'reports'
  | 'store'
  | 'classification';
export type Theme = 'light' | 'dark';
export type TransportStatus = 'connecting' | 'open' | 'closed';

export interface Route {
  screen: Screen;
  /** A statement key (live), an approval id (approvals), a session id and frame (replay: "<id>/<frame>"). */
  id: string | null;
}

export interface Toast {
  id: number;
  kind: 'info' | 'success' | 'error';
  text: string;
}

export interface UiState {
  theme: Theme;
  route: Route;
  toasts: Toast[];
  transport: TransportStatus;
  /** Why the transport is closed, for the banner. */
  transportError: string | null;
  helpOpen: boolean;
}

export interface UiSlice {
  ui: UiState;
  setTheme(theme: Theme): void;
  toggleTheme(): void;
  navigate(route: Route): void;
  toast(kind: Toast['kind'], text: string): number;
  dismissToast(id: number): void;
  setTransport(status: TransportStatus, error?: string | null): void;
  setHelpOpen(open: boolean): void;
}

const SCREENS: readonly Screen[] = [
  'live',
  'approvals',
  'connections',
  'sessions',
  'replay',
  'policies',
  'reports',
  'store',
  'classification',
];
/** Screens whose route carries no id. */
const NO_ID: readonly Screen[] = [
  'connections',
  'sessions',
  'policies',
  'reports',
  'store',
  'classification',
];
export const MAX_TOASTS = 4;

export function parseRoute(hash: string): Route {
  const [screen, ...rest] = hash.replace(/^#\/?/, '').split('/');
  const s = SCREENS.includes(screen as Screen) ? (screen as Screen) : 'live';
  const id = rest.length > 0 && rest.join('/') !== '' ? decodeURIComponent(rest.join('/')) : null;
  return { screen: s, id: NO_ID.includes(s) ? null : id };
}

export function routeHash(r: Route): string {
  if (r.screen === 'replay' && r.id) {
    const { sessionId, frame } = replayRoute(r.id);
    return `#/replay/${encodeURIComponent(sessionId)}${frame !== null ? `/${frame}` : ''}`;
  }
  return `#/${r.screen}${r.id ? `/${encodeURIComponent(r.id)}` : ''}`;
}

/** A replay route's id: "<session id>" or "<session id>/<frame>". */
export function replayRoute(id: string): { sessionId: string; frame: number | null } {
  const m = /^(.*)\/(\d+)$/.exec(id);
  return m ? { sessionId: m[1]!, frame: Number(m[2]) } : { sessionId: id, frame: null };
}

export function createUiSlice(initial: {
  theme: Theme;
  route?: Route;
}): StateCreator<AppState, [], [], UiSlice> {
  let nextToast = 1;
  return (set, get) => {
    const patch = (p: Partial<UiState>) => set({ ui: { ...get().ui, ...p } });
    return {
      ui: {
        theme: initial.theme,
        route: initial.route ?? { screen: 'live', id: null },
        toasts: [],
        transport: 'connecting',
        transportError: null,
        helpOpen: false,
      },
      setTheme(theme) {
        patch({ theme });
      },
      toggleTheme() {
        patch({ theme: get().ui.theme === 'dark' ? 'light' : 'dark' });
      },
      navigate(route) {
        const cur = get().ui.route;
        if (cur.screen === route.screen && cur.id === route.id) return;
        patch({ route });
        // The screens keep their own selection in step with the route.
        if (route.screen === 'approvals') get().selectApproval(route.id);
        if (route.screen === 'live') get().selectStatement(route.id);
        if (route.screen === 'replay' && route.id) {
          const { sessionId, frame } = replayRoute(route.id);
          void get().openReplay(sessionId, frame ?? undefined);
        }
      },
      toast(kind, text) {
        const id = nextToast++;
        patch({ toasts: [...get().ui.toasts, { id, kind, text }].slice(-MAX_TOASTS) });
        return id;
      },
      dismissToast(id) {
        patch({ toasts: get().ui.toasts.filter((t) => t.id !== id) });
      },
      setTransport(status, error = null) {
        patch({ transport: status, transportError: status === 'open' ? null : error });
      },
      setHelpOpen(open) {
        patch({ helpOpen: open });
      },
    };
  };
}
