// Store: which store the app reads. Its own by default; or a team's shared PostgreSQL audit store
// (every gateway's sessions), opened with the operator's own role: as reader (search, replay,
// verify, report) or approver (also decide statements held by any gateway). The password goes to
// the host, which keeps it in memory until the app stops or goes back to its own store.

import type { StoreSourceView } from '../../../shared/api.js';
import { Database, Plug } from '../components/icons.js';
import { Pill } from '../components/ui.js';
import { useApp, useAppStore } from '../context.js';
import { dateTime } from '../lib/format.js';

export function Store() {
  return (
    <div className="page">
      <header className="page-head">
        <h1>Store</h1>
        <span className="sub">Where sessions, search, replay, reports and approvals are read from</span>
      </header>
      <div className="page-body">
        <div className="report-form">
          <CurrentSource />
          <SharedStoreForm />
        </div>
      </div>
    </div>
  );
}

const KIND: Record<StoreSourceView['kind'], string> = {
  local: "This app's own store",
  team: "The team's shared store (from the config)",
  shared: 'A shared store opened here',
};

function CurrentSource() {
  const store = useAppStore();
  const view = useApp((s) => s.storeSource.view);
  const busy = useApp((s) => s.storeSource.busy);
  if (!view) return <section className="form-card" aria-label="Reading now" aria-busy="true" />;
  return (
    <section className="form-card" aria-label="Reading now">
      <h2>
        <Database size={15} /> Reading now
      </h2>
      <p>
        <span className={`dot ${view.connected ? 'ok' : 'bad'}`} /> {KIND[view.kind]}
        {view.role && (
          <>
            {' '}
            <Pill kind={view.role === 'approver' ? 'approved' : 'listening'}>{view.role}</Pill>
          </>
        )}
      </p>
      <p className="mono small-print" data-testid="store-address">
        {view.store}
      </p>
      <div className="facts">
        <Fact k="Status" v={view.connected ? 'connected' : 'not answering'} />
        {view.decideAs && view.kind !== 'local' && <Fact k="Decides as" v={view.decideAs} />}
        {view.kind !== 'local' && <Fact k="Gateways" v={view.gateways.join(', ') || 'none yet'} />}
        {view.openedAt !== null && <Fact k="Opened" v={dateTime(view.openedAt * 1000)} />}
        {view.shipping && (
          <Fact
            k="This gateway ships"
            v={`${view.shipping.state}${view.shipping.behind > 0 ? `, ${view.shipping.behind} records behind` : ''}`}
          />
        )}
      </div>
      {view.shipping?.rejected && (
        <div className="errbox" role="alert" data-testid="shipping-rejected">
          The shared store refuses record {view.shipping.rejected.firstId} (SQLSTATE{' '}
          {view.shipping.rejected.sqlstate}): {view.shipping.rejected.message}. It is retried and nothing
          after it is skipped; see the gateway's log.
        </div>
      )}
      {view.error && (
        <div className="errbox" role="alert">
          {view.error}
        </div>
      )}
      <div className="toolbar spaced">
        {view.kind === 'shared' && (
          <button
            type="button"
            className="btn"
            disabled={busy}
            onClick={() => void store.getState().closeSharedStore()}
          >
            Disconnect: use this app's own store
          </button>
        )}
        <button type="button" className="btn ghost" onClick={() => void store.getState().loadStoreSource()}>
          Check again
        </button>
      </div>
    </section>
  );
}

function SharedStoreForm() {
  const store = useAppStore();
  const form = useApp((s) => s.storeSource.form);
  const busy = useApp((s) => s.storeSource.busy);
  const error = useApp((s) => s.storeSource.error);
  const set = (p: Partial<typeof form>) => store.getState().setSharedStoreForm(p);
  const connect = async () => {
    if (await store.getState().openSharedStore()) {
      const label = store.getState().storeSource.view?.label ?? 'the shared store';
      store.getState().toast('success', `Reading ${label}`);
    }
  };
  return (
    <section className="form-card" aria-label="Open a shared store">
      <h2>
        <Plug size={15} /> Open a shared store
      </h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void connect();
        }}
      >
        <div className="form-grid">
          <label style={{ gridColumn: '1 / -1' }}>
            <span>Store URL</span>
            <input
              className="input mono"
              aria-label="Store URL"
              placeholder="postgres://auditor@audit-db:5432/audit?sslmode=verify-full"
              spellCheck={false}
              autoComplete="off"
              value={form.url}
              onChange={(e) => set({ url: e.target.value })}
            />
          </label>
          <label>
            <span>Password</span>
            <input
              className="input"
              type="password"
              aria-label="Password"
              autoComplete="off"
              value={form.password}
              onChange={(e) => set({ password: e.target.value })}
            />
          </label>
          <label>
            <span>Role</span>
            <select
              className="select"
              aria-label="Role"
              value={form.role}
              onChange={(e) => set({ role: e.target.value === 'approver' ? 'approver' : 'reader' })}
            >
              <option value="reader">Reader: search, replay, verify, report</option>
              <option value="approver">Approver: also decide held statements</option>
            </select>
          </label>
          {form.role === 'approver' && (
            <label>
              <span>Decide as</span>
              <input
                className="input"
                aria-label="Decide as"
                placeholder="your OS user name"
                autoComplete="off"
                value={form.as}
                onChange={(e) => set({ as: e.target.value })}
              />
            </label>
          )}
        </div>
        <p className="muted">
          Use your own role in the store (its log then says who read what). The password stays in the app's
          memory until you disconnect or quit; it is never saved.
        </p>
        <div className="toolbar">
          <button type="submit" className="btn primary" disabled={busy}>
            {busy ? 'Connecting…' : 'Connect'}
          </button>
        </div>
        {error && (
          <div className="errbox" role="alert">
            {error}
          </div>
        )}
      </form>
    </section>
  );
}

function Fact({ k, v }: { k: string; v: string }) {
  return (
    <div className="fact">
      <div className="k">{k}</div>
      <div className="v" title={v}>
        {v}
      </div>
    </div>
  );
}
