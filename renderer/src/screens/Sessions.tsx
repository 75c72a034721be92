// Sessions: every recorded session, found by who, where, when and what was said (full-text over
// its statements), or by blocked / held / failed statements; or the statements themselves.
// Paged by the store. A row opens the replayer (at the matching statement, for a text search).

import { useEffect, useRef } from 'react';
import type { LiveStatement, SessionHit } from '../../../shared/api.js';
import { History, Search } from '../components/icons.js';
import { Empty, Pill, typingIn } from '../components/ui.js';
import { useApp, useAppStore } from '../context.js';
import { count, dateTime, duration, oneLine } from '../lib/format.js';
import { isQueryEmpty, pageLabel, SESSIONS_PAGE, type SessionsQuery } from '../state/sessions.js';

export function Sessions() {
  const store = useAppStore();
  const query = useApp((s) => s.sessions.query);
  const loading = useApp((s) => s.sessions.loading);
  const error = useApp((s) => s.sessions.error);
  const identities = useApp((s) => s.conn.identities);
  const connections = useApp((s) => s.conn.list);
  const textRef = useRef<HTMLInputElement>(null);

  // Text is searched as it is typed (debounced); everything else at once.
  const lastText = useRef(query.text);
  useEffect(() => {
    const typed = query.text !== lastText.current;
    lastText.current = query.text;
    const t = setTimeout(() => void store.getState().runSessionsSearch(), typed ? 180 : 0);
    return () => clearTimeout(t);
  }, [query, store]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (typingIn(e) || e.metaKey || e.ctrlKey || e.altKey || document.querySelector('.backdrop')) return;
      if (e.key === '/') {
        e.preventDefault();
        textRef.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const set = (p: Partial<SessionsQuery>) => store.getState().setSessionsQuery(p);
  const identityNames = [...new Set(identities.map((i) => i.name))].sort();

  return (
    <div className="page">
      <header className="page-head">
        <h1>Sessions</h1>
        <span className="sub">Find any session by who, where, when or what was said</span>
        <span className="grow" />
        <fieldset className="seg" aria-label="Search for">
          <button
            type="button"
            aria-pressed={query.mode === 'sessions'}
            onClick={() => set({ mode: 'sessions' })}
          >
            Sessions
          </button>
          <button
            type="button"
            aria-pressed={query.mode === 'statements'}
            onClick={() => set({ mode: 'statements' })}
          >
            Statements
          </button>
        </fieldset>
      </header>
      <div className="filters">
        <div className="search grow-search">
          <Search size={14} />
          <input
            ref={textRef}
            id="sessions-text"
            className="input"
            type="search"
            placeholder="Words in a statement: customers email, drop table…"
            aria-label="Search statements"
            value={query.text}
            onChange={(e) => set({ text: e.target.value })}
          />
          <kbd>/</kbd>
        </div>
        {query.mode === 'sessions' && (
          <>
            <select
              className="select"
              aria-label="Identity"
              value={query.identity}
              onChange={(e) => set({ identity: e.target.value })}
            >
              <option value="">Any identity</option>
              {identityNames.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
              {query.identity && !identityNames.includes(query.identity) && (
                <option value={query.identity}>{query.identity}</option>
              )}
            </select>
            <select
              className="select"
              aria-label="Connection"
              value={query.connection}
              onChange={(e) => set({ connection: e.target.value })}
            >
              <option value="">Any connection</option>
              {connections.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name}
                </option>
              ))}
            </select>
            <label className="field-inline">
              <span>From</span>
              <input
                className="input"
                type="datetime-local"
                aria-label="Started from"
                value={query.since}
                onChange={(e) => set({ since: e.target.value })}
              />
            </label>
            <label className="field-inline">
              <span>to</span>
              <input
                className="input"
                type="datetime-local"
                aria-label="Started until"
                value={query.until}
                onChange={(e) => set({ until: e.target.value })}
              />
            </label>
            <fieldset className="seg" aria-label="Only sessions with">
              <button
                type="button"
                aria-pressed={query.hasBlocked}
                onClick={() => set({ hasBlocked: !query.hasBlocked })}
              >
                Blocked
              </button>
              <button
                type="button"
                aria-pressed={query.hasHeld}
                onClick={() => set({ hasHeld: !query.hasHeld })}
              >
                Held
              </button>
              <button
                type="button"
                aria-pressed={query.hasErrors}
                onClick={() => set({ hasErrors: !query.hasErrors })}
              >
                Errors
              </button>
            </fieldset>
          </>
        )}
        {!isQueryEmpty(query) && (
          <button
            type="button"
            className="btn ghost small"
            onClick={() =>
              set({
                text: '',
                identity: '',
                connection: '',
                since: '',
                until: '',
                hasBlocked: false,
                hasHeld: false,
                hasErrors: false,
              })
            }
          >
            Clear
          </button>
        )}
      </div>
      {error && (
        <div className="banner" role="alert">
          {error}
        </div>
      )}
      {query.mode === 'sessions' ? <SessionTable /> : <StatementTable />}
      <Pager loading={loading} />
    </div>
  );
}

function Pager({ loading }: { loading: boolean }) {
  const store = useAppStore();
  const query = useApp((s) => s.sessions.query);
  const result = useApp((s) => s.sessions.result);
  const statements = useApp((s) => s.sessions.statements);
  const isSessions = query.mode === 'sessions';
  const shown = isSessions ? (result?.sessions.length ?? 0) : (statements?.statements.length ?? 0);
  const total = isSessions ? (result?.total ?? null) : null;
  const more = isSessions ? (result?.more ?? false) : (statements?.more ?? false);
  return (
    <footer className="pager">
      <span className="muted" aria-live="polite">
        {loading
          ? 'Searching…'
          : pageLabel(query.page, SESSIONS_PAGE, shown, total, more, isSessions ? 'sessions' : 'statements')}
      </span>
      <span className="grow" />
      <button
        type="button"
        className="btn small"
        disabled={query.page === 0}
        onClick={() => store.getState().setSessionsQuery({ page: query.page - 1 })}
      >
        Previous
      </button>
      <button
        type="button"
        className="btn small"
        disabled={!more}
        onClick={() => store.getState().setSessionsQuery({ page: query.page + 1 })}
      >
        Next
      </button>
    </footer>
  );
}

function openReplay(store: ReturnType<typeof useAppStore>, sessionId: string, frame?: number) {
  store.getState().navigate({ screen: 'replay', id: frame ? `${sessionId}/${frame}` : sessionId });
}

function SessionTable() {
  const store = useAppStore();
  const result = useApp((s) => s.sessions.result);
  const text = useApp((s) => s.sessions.query.text.trim());
  if (!result) return <div className="page-body" />;
  if (result.sessions.length === 0) {
    return (
      <div className="page-body">
        <Empty icon={<History size={22} />} title="No sessions match">
          <p>Sessions appear here once clients have connected through a listener.</p>
        </Empty>
      </div>
    );
  }
  return (
    <div className="page-body flush">
      <table className="tbl sessions-tbl" aria-label="Sessions">
        <thead>
          <tr>
            <th>Started</th>
            <th>Identity</th>
            <th>Connection</th>
            <th>Client</th>
            <th className="num">Duration</th>
            <th className="num">Statements</th>
            <th>Flags</th>
            {text && <th>Matching statement</th>}
          </tr>
        </thead>
        <tbody>
          {result.sessions.map((s) => (
            <SessionRow
              key={s.id}
              s={s}
              withMatch={text !== ''}
              onOpen={(frame) => openReplay(store, s.id, frame)}
            />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function SessionRow({
  s,
  withMatch,
  onOpen,
}: {
  s: SessionHit;
  withMatch: boolean;
  onOpen(frame?: number): void;
}) {
  return (
    <tr
      className="clickable"
      tabIndex={0}
      onClick={() => onOpen(s.match?.firstFrame)}
      onKeyDown={(e) => {
        if (e.key === 'Enter') onOpen(s.match?.firstFrame);
      }}
      aria-label={`Session ${s.id.slice(0, 8)} of ${s.identity}`}
    >
      <td className="mono nowrap" title={s.id}>
        {dateTime(s.startedAt)}
      </td>
      <td>{s.identity}</td>
      <td>{s.connection}</td>
      <td className="mono dim">{s.clientAddress}</td>
      <td className="num">
        {s.endedAt === null ? <Pill kind="listening">open</Pill> : duration(s.endedAt - s.startedAt)}
      </td>
      <td className="num">{count(s.statements)}</td>
      <td className="nowrap">
        {s.blocked > 0 && <Pill kind="block">{s.blocked} blocked</Pill>}{' '}
        {s.held > 0 && <Pill kind="review">{s.held} held</Pill>}{' '}
        {s.errors > 0 && <Pill kind="error">{s.errors} errors</Pill>}
      </td>
      {withMatch && (
        <td className="sqlcell" title={s.match?.sql}>
          {s.match ? (
            <>
              <span className="dim">#{s.match.seq} </span>
              {oneLine(s.match.sql, 200)}
            </>
          ) : null}
        </td>
      )}
    </tr>
  );
}

function StatementTable() {
  const store = useAppStore();
  const r = useApp((s) => s.sessions.statements);
  const text = useApp((s) => s.sessions.query.text.trim());
  if (!text) {
    return (
      <div className="page-body">
        <Empty icon={<Search size={22} />} title="Search the statements">
          <p>
            Type words that appear in a statement: every one must be there; the last may be the start of a
            word.
          </p>
        </Empty>
      </div>
    );
  }
  if (!r) return <div className="page-body" />;
  if (r.statements.length === 0) {
    return (
      <div className="page-body">
        <Empty icon={<Search size={22} />} title="No statement has these words" />
      </div>
    );
  }
  return (
    <div className="page-body flush">
      <table className="tbl" aria-label="Statements found">
        <thead>
          <tr>
            <th>Time</th>
            <th>Identity</th>
            <th>Connection</th>
            <th>Statement</th>
            <th>Decision</th>
            <th className="num">Duration</th>
          </tr>
        </thead>
        <tbody>
          {r.statements.map((st) => (
            <StatementRow
              key={`${st.sessionId}:${st.seq}`}
              st={st}
              onOpen={() => openReplay(store, st.sessionId, st.firstFrame)}
            />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function StatementRow({ st, onOpen }: { st: LiveStatement; onOpen(): void }) {
  return (
    <tr
      className="clickable"
      tabIndex={0}
      onClick={onOpen}
      onKeyDown={(e) => {
        if (e.key === 'Enter') onOpen();
      }}
    >
      <td className="mono nowrap">{dateTime(st.startedAt)}</td>
      <td>{st.identity}</td>
      <td>{st.connection}</td>
      <td className="sqlcell" title={st.sql}>
        {oneLine(st.sql, 240)}
      </td>
      <td className="nowrap">
        <Pill kind={st.decision} />
        {st.errorCode && (
          <>
            {' '}
            <Pill kind="error">{st.errorCode}</Pill>
          </>
        )}
      </td>
      <td className="num">{duration(st.durationUs)}</td>
    </tr>
  );
}
