// Entry point: one API client (IPC in the desktop app, WebSocket in a browser), one store, the
// event streams wired into it, the route kept in the URL hash, the theme on <html>.

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import { createClient } from './api/client.js';
import { ApiContext, StoreContext } from './context.js';
import { connectEvents, createAppStore, loadAll } from './state/store.js';
import { type SharedStoreForm, withoutPassword } from './state/store-source.js';
import { parseRoute, replayRoute, routeHash, type Theme } from './state/ui.js';
import './styles.css';

const THEME_KEY = 'bastion.theme';
const DECIDER_KEY = 'bastion.decideAs';
const CHANGED_BY_KEY = 'bastion.changedBy';
/** The Store screen's URL (without a password), role and decider name; never the password. */
const SHARED_STORE_KEY = 'bastion.sharedStore';

function savedSharedStore(): Partial<Omit<SharedStoreForm, 'password'>> {
  try {
    const v = JSON.parse(localStorage.getItem(SHARED_STORE_KEY) ?? '{}') as Record<string, unknown>;
    return {
      url: typeof v.url === 'string' ? withoutPassword(v.url) : '',
      role: v.role === 'approver' ? 'approver' : 'reader',
      as: typeof v.as === 'string' ? v.as : '',
    };
  } catch {
    return {};
  }
}

function initialTheme(): Theme {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return window.matchMedia?.('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

const client = createClient();
const store = createAppStore(client, {
  theme: initialTheme(),
  route: parseRoute(window.location.hash),
  decideAs: localStorage.getItem(DECIDER_KEY) ?? '',
  changedBy: localStorage.getItem(CHANGED_BY_KEY) ?? '',
  sharedStore: savedSharedStore(),
});

// The first route may name a statement or an approval.
{
  const r = store.getState().ui.route;
  if (r.screen === 'approvals') store.getState().selectApproval(r.id);
  if (r.screen === 'live') store.getState().selectStatement(r.id);
  if (r.screen === 'replay' && r.id) {
    const { sessionId, frame } = replayRoute(r.id);
    void store.getState().openReplay(sessionId, frame ?? undefined);
  }
}

connectEvents(store, client, (flush) => requestAnimationFrame(flush));
setInterval(() => store.getState().tickRate(), 1000);

client.onStatus((status, info) => {
  store.getState().setTransport(status, info.error);
  if (status === 'open') void loadAll(store);
});

client.onNavigate((hash) => store.getState().navigate(parseRoute(hash)));
window.addEventListener('hashchange', () => store.getState().navigate(parseRoute(window.location.hash)));

const applyTheme = (t: Theme) => {
  document.documentElement.dataset.theme = t;
};
applyTheme(store.getState().ui.theme);

store.subscribe((s, prev) => {
  if (s.ui.theme !== prev.ui.theme) {
    applyTheme(s.ui.theme);
    localStorage.setItem(THEME_KEY, s.ui.theme);
  }
  if (s.ui.route !== prev.ui.route) {
    const hash = routeHash(s.ui.route);
    if (window.location.hash !== hash) window.history.replaceState(null, '', hash);
  }
  if (s.approvals.decideAs !== prev.approvals.decideAs)
    localStorage.setItem(DECIDER_KEY, s.approvals.decideAs);
  if (s.policies.changedBy !== prev.policies.changedBy)
    localStorage.setItem(CHANGED_BY_KEY, s.policies.changedBy);
  // Remembered once a store opened with it (a half-typed form is not worth keeping).
  if (s.storeSource.view !== prev.storeSource.view && s.storeSource.view?.kind === 'shared') {
    const { url, role, as } = s.storeSource.form;
    localStorage.setItem(SHARED_STORE_KEY, JSON.stringify({ url: withoutPassword(url), role, as }));
  }
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ApiContext.Provider value={client}>
      <StoreContext.Provider value={store}>
        <App />
      </StoreContext.Provider>
    </ApiContext.Provider>
  </StrictMode>,
);
