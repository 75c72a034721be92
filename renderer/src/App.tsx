// The window: a sidebar (screens, pending approvals, theme, link state) and the current screen.
// Global shortcuts live here; each screen adds its own while it is shown.

import { useEffect } from 'react';
import {
  Activity,
  Database,
  FileText,
  Gavel,
  History,
  Keyboard,
  Moon,
  Plug,
  Shield,
  Sliders,
  Sun,
  X,
} from './components/icons.js';
import { Modal, typingIn } from './components/ui.js';
import { useApi, useApp, useAppStore } from './context.js';
import { count } from './lib/format.js';
import { Approvals } from './screens/Approvals.js';
import { Classification } from './screens/Classification.js';
import { Connections } from './screens/Connections.js';
import { Live } from './screens/Live.js';
import { Policies } from './screens/Policies.js';
import { Replay } from './screens/Replay.js';
import { Reports } from './screens/Reports.js';
import { Sessions } from './screens/Sessions.js';
import { Store } from './screens/Store.js';
import { pendingCount } from './state/approvals.js';
import { storeBadge } from './state/store-source.js';
import type { Screen, Toast } from './state/ui.js';

export function App() {
  const store = useAppStore();
  const screen = useApp((s) => s.ui.route.screen);
  const transportError = useApp((s) => s.ui.transportError);
  const transport = useApp((s) => s.ui.transport);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const st = store.getState();
      if (e.key === 'Escape' && st.ui.helpOpen) {
        st.setHelpOpen(false);
        return;
      }
      if (typingIn(e) || e.metaKey || e.ctrlKey || e.altKey || document.querySelector('.backdrop')) return;
      const screens: Record<string, Screen> = {
        '1': 'live',
        '2': 'approvals',
        '3': 'connections',
        '4': 'sessions',
        '5': 'policies',
        '6': 'reports',
        '7': 'store',
        '8': 'classification',
      };
      if (screens[e.key]) {
        st.navigate({ screen: screens[e.key]!, id: null });
      } else if (e.key === 't') {
        st.toggleTheme();
      } else if (e.key === '?') {
        st.setHelpOpen(true);
      } else if (e.key === '/' && st.ui.route.screen !== 'sessions') {
        e.preventDefault();
        if (st.ui.route.screen !== 'live') st.navigate({ screen: 'live', id: null });
        setTimeout(() => document.getElementById('live-filter')?.focus(), 0);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store]);

  return (
    <div className="app">
      <Sidebar />
      <main className="main">
        {transport !== 'open' && transportError && (
          <div className="banner" role="alert">
            {transportError}
          </div>
        )}
        {screen === 'live' && <Live />}
        {screen === 'approvals' && <Approvals />}
        {screen === 'connections' && <Connections />}
        {screen === 'sessions' && <Sessions />}
        {screen === 'replay' && <Replay />}
        {screen === 'policies' && <Policies />}
        {screen === 'reports' && <Reports />}
        {screen === 'store' && <Store />}
        {screen === 'classification' && <Classification />}
      </main>
      <Toasts />
      <Help />
    </div>
  );
}

function Sidebar() {
  const store = useAppStore();
  const api = useApi();
  const screen = useApp((s) => s.ui.route.screen);
  const theme = useApp((s) => s.ui.theme);
  const pending = useApp((s) => pendingCount(s.approvals.byId));
  const failed = useApp((s) => s.conn.list.some((c) => c.state === 'failed'));
  const listening = useApp((s) => s.conn.list.filter((c) => c.state === 'listening').length);
  const rate = useApp((s) => s.inspector.rate);
  const transport = useApp((s) => s.ui.transport);
  const storeDown = useApp((s) => s.storeSource.view?.connected === false);
  const go = (screen: Screen) => store.getState().navigate({ screen, id: null });
  const item = (
    s: Screen,
    icon: React.ReactNode,
    label: string,
    key: string,
    extra?: React.ReactNode,
    current = false,
  ) => (
    <button
      type="button"
      className="nav-item"
      aria-current={screen === s || current ? 'page' : undefined}
      onClick={() => go(s)}
      title={`${label} (${key})`}
    >
      {icon}
      <span className="grow">{label}</span>
      {extra}
      <kbd>{key}</kbd>
    </button>
  );
  return (
    <nav className="sidebar" aria-label="Screens">
      <div className="brand">
        <span className="logo">
          <Shield size={16} />
        </span>
        <span>
          Bastion
          <small>PostgreSQL gateway</small>
        </span>
      </div>
      <StoreBadge />
      {item(
        'live',
        <Activity />,
        'Live',
        '1',
        rate > 0 ? <span className="badge dim">{count(rate)}/s</span> : null,
      )}
      {item(
        'approvals',
        <Gavel />,
        'Approvals',
        '2',
        pending > 0 ? (
          <span className="badge" title={`${pending} pending`}>
            {pending}
            <span className="sr-only"> pending</span>
          </span>
        ) : null,
      )}
      {item(
        'connections',
        <Database />,
        'Connections',
        '3',
        failed ? <span className="dot bad" title="A listener failed" /> : null,
      )}
      {item('sessions', <History />, 'Sessions', '4', null, screen === 'replay')}
      {item('policies', <Sliders />, 'Policies', '5')}
      {item('reports', <FileText />, 'Reports', '6')}
      {item(
        'store',
        <Plug />,
        'Store',
        '7',
        storeDown ? <span className="dot bad" title="The store does not answer" /> : null,
      )}
      {item('classification', <Shield />, 'Data classification', '8')}
      <div className="spacer" />
      <div className="sidebar-foot">
        <div className="row">
          <span className={`dot ${transport === 'open' ? 'ok' : transport === 'closed' ? 'bad' : 'warn'}`} />
          <span>
            {transport === 'open' ? 'Connected' : transport === 'closed' ? 'Disconnected' : 'Connecting'} ·{' '}
            {api.transport === 'ipc' ? 'desktop' : 'browser'}
          </span>
        </div>
        <div className="row">
          <span className="muted">
            {listening} listener{listening === 1 ? '' : 's'} running
          </span>
        </div>
        <div className="row" style={{ marginTop: 4 }}>
          <button
            type="button"
            className="btn small"
            onClick={() => store.getState().toggleTheme()}
            title="Switch theme (t)"
            aria-label={theme === 'dark' ? 'Switch to the light theme' : 'Switch to the dark theme'}
          >
            {/* Which one shows follows <html data-theme>, so it is always right. */}
            <span className="when-dark">
              <Sun size={14} /> Light
            </span>
            <span className="when-light">
              <Moon size={14} /> Dark
            </span>
          </button>
          <button
            type="button"
            className="btn small ghost"
            onClick={() => store.getState().setHelpOpen(true)}
            title="Keyboard shortcuts (?)"
          >
            <Keyboard size={14} /> <kbd>?</kbd>
          </button>
        </div>
      </div>
    </nav>
  );
}

/** Which store every screen reads, always in sight: "shared: auditor@audit-db/audit". */
function StoreBadge() {
  const store = useAppStore();
  const view = useApp((s) => s.storeSource.view);
  if (!view) return null;
  const text = storeBadge(view);
  return (
    <button
      type="button"
      className={`store-badge ${view.kind}${view.connected ? '' : ' down'}`}
      title={`${view.store}${view.role ? ` (${view.role})` : ''}${view.error ? `: ${view.error}` : ''}`}
      aria-label={`Store: ${text}`}
      onClick={() => store.getState().navigate({ screen: 'store', id: null })}
    >
      <span className="store-badge-kind">
        <Database size={11} /> {view.kind}
        {view.role ? ` · ${view.role}` : ''}
      </span>
      <span className="store-badge-text">{view.label}</span>
    </button>
  );
}

function Toasts() {
  const toasts = useApp((s) => s.ui.toasts);
  return (
    <div className="toasts" aria-live="polite">
      {toasts.map((t) => (
        <ToastItem key={t.id} t={t} />
      ))}
    </div>
  );
}

function ToastItem({ t }: { t: Toast }) {
  const store = useAppStore();
  useEffect(() => {
    const timer = setTimeout(() => store.getState().dismissToast(t.id), t.kind === 'error' ? 8000 : 3500);
    return () => clearTimeout(timer);
  }, [t, store]);
  return (
    <div className={`toast ${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
      <span className="grow">{t.text}</span>
      <button
        type="button"
        className="btn ghost small icon"
        aria-label="Dismiss"
        onClick={() => store.getState().dismissToast(t.id)}
      >
        <X size={13} />
      </button>
    </div>
  );
}

const SHORTCUTS: [string, [string, string][]][] = [
  [
    'Anywhere',
    [
      ['1 2 3', 'Live, Approvals, Connections'],
      ['4 5 6', 'Sessions, Policies, Reports'],
      ['7', 'Store (which one is read)'],
      ['8', 'Data classification'],
      ['/', 'Filter or search statements'],
      ['t', 'Light or dark theme'],
      ['?', 'This help'],
    ],
  ],
  [
    'Live',
    [
      ['j k', 'Next or previous statement'],
      ['Esc', 'Close the statement'],
      ['space', 'Pause or resume'],
      ['o', 'Newest on top or tail'],
      ['x', 'Clear the filter'],
    ],
  ],
  [
    'Approvals',
    [
      ['j k', 'Next or previous'],
      ['a', 'Approve'],
      ['d', 'Deny'],
      ['h', 'Pending or history'],
    ],
  ],
  [
    'Replay',
    [
      ['← →', 'Previous or next frame (shift: 10)'],
      ['j k', 'Next or previous statement'],
      ['space', 'Play or pause'],
      ['Home End', 'First or last frame'],
      ['b', 'Decoded or bytes'],
      ['Esc', 'Back to the sessions'],
    ],
  ],
  [
    'Policies',
    [
      ['Ctrl S', 'Save and apply'],
      ['F8', 'Next problem'],
    ],
  ],
  [
    'Connections',
    [
      ['n', 'Add a connection'],
      ['i', 'Add an identity'],
    ],
  ],
];

function Help() {
  const open = useApp((s) => s.ui.helpOpen);
  const store = useAppStore();
  if (!open) return null;
  const close = () => store.getState().setHelpOpen(false);
  return (
    <Modal
      narrow
      title="Keyboard shortcuts"
      onClose={close}
      footer={
        <>
          <span className="grow" />
          <button type="button" className="btn" onClick={close}>
            Close
          </button>
        </>
      }
    >
      <div className="help-grid">
        {SHORTCUTS.map(([group, keys]) => [
          <h3 key={group}>{group}</h3>,
          ...keys.map(([k, what]) => [
            <span key={`${group}${k}k`} className="keys">
              {k.split(' ').map((x) => (
                <kbd key={x}>{x}</kbd>
              ))}
            </span>,
            <span key={`${group}${k}w`}>{what}</span>,
          ]),
        ])}
      </div>
    </Modal>
  );
}
