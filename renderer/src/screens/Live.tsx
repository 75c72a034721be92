// The live inspector: every statement through every listener as it happens. Rows are read from
// the store's StatementBuffer when `inspector.version` changes (once per frame at most).

import { memo, useCallback, useEffect, useRef, useState } from 'react';
import type { LiveStatement } from '../../../shared/api.js';
import { Activity, ArrowDown, ArrowUp, Pause, Play, Search } from '../components/icons.js';
import { Empty, Pill, typingIn } from '../components/ui.js';
import { VirtualRows } from '../components/VirtualRows.js';
import { useApp, useAppStore } from '../context.js';
import { clockTime, count, duration, oneLine } from '../lib/format.js';
import { type DecisionFilter, isFilterEmpty, maskedCount, statementKey } from '../state/filter.js';
import { StatementDetail } from './StatementDetail.js';

const ROW = 32;

export function Live() {
  const store = useAppStore();
  const version = useApp((s) => s.inspector.version);
  const order = useApp((s) => s.inspector.order);
  const selected = useApp((s) => s.inspector.selected);
  const buffer = store.getState().statements;
  const view = buffer.view;
  const n = view.length;
  const at = useCallback((i: number) => (order === 'newest' ? view[n - 1 - i] : view[i]), [order, view, n]);
  const [away, setAway] = useState(false);
  const jumpRef = useRef<(() => void) | null>(null);

  const select = useCallback(
    (key: string | null) => store.getState().navigate({ screen: 'live', id: key }),
    [store],
  );

  const selectedIndex = (() => {
    const s = selected ? buffer.byKey.get(selected) : undefined;
    const i = s ? view.lastIndexOf(s) : -1; // by reference: fast even at 50k rows
    if (i < 0) return null;
    return order === 'newest' ? n - 1 - i : i;
  })();

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (typingIn(e) || e.metaKey || e.ctrlKey || e.altKey || document.querySelector('.backdrop')) return;
      const st = store.getState();
      if (e.key === 'j' || e.key === 'ArrowDown' || e.key === 'k' || e.key === 'ArrowUp') {
        const down = e.key === 'j' || e.key === 'ArrowDown';
        const next =
          selectedIndex === null ? 0 : Math.max(0, Math.min(n - 1, selectedIndex + (down ? 1 : -1)));
        const s = at(next);
        if (s) {
          e.preventDefault();
          select(statementKey(s));
        }
      } else if (e.key === 'Escape' && st.inspector.selected) {
        select(null);
      } else if (e.key === ' ' || e.key === 'p') {
        e.preventDefault();
        st.setPaused(!st.inspector.paused);
      } else if (e.key === 'o') {
        st.setOrder(st.inspector.order === 'newest' ? 'tail' : 'newest');
      } else if (e.key === 'x') {
        st.setFilter({ text: '', identity: '', connection: '', decision: '' });
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store, n, at, selectedIndex, select]);

  const total = useApp((s) => s.inspector.total);
  const loaded = useApp((s) => s.inspector.loaded);
  const filterEmpty = useApp((s) => isFilterEmpty(s.inspector.filter));
  const epoch = buffer.viewEpoch;

  return (
    <div className="live">
      <LiveToolbar />
      <div className={`live-split${selected ? ' with-detail' : ''}`}>
        <div className="table" style={{ position: 'relative' }}>
          <div className="grid-row grid-head" aria-hidden="true">
            <div>Time</div>
            <div>Identity</div>
            <div className="col-conn">Connection</div>
            <div>Statement</div>
            <div className="num">Duration</div>
            <div className="num col-rows">Rows</div>
            <div className="num col-masked">Masked</div>
            <div>Decision</div>
            <div className="col-error">Error</div>
          </div>
          {n === 0 ? (
            total === 0 ? (
              loaded ? (
                <NoStatements />
              ) : null
            ) : (
              <Empty icon={<Search size={24} />} title="No statements match" small>
                <p>{count(total)} statements are hidden by the filter.</p>
                {!filterEmpty && (
                  <button
                    type="button"
                    className="btn"
                    onClick={() =>
                      store.getState().setFilter({ text: '', identity: '', connection: '', decision: '' })
                    }
                  >
                    Clear the filter <kbd>x</kbd>
                  </button>
                )}
              </Empty>
            )
          ) : (
            <>
              {away && (
                <button
                  type="button"
                  className="btn primary small live-hint"
                  onClick={() => jumpRef.current?.()}
                >
                  {order === 'newest' ? <ArrowUp size={14} /> : <ArrowDown size={14} />} Jump to the newest
                </button>
              )}
              <VirtualRows
                label="Statements"
                count={n}
                rowHeight={ROW}
                version={version}
                serial={buffer.viewSerial}
                resetKey={`${epoch}:${order}`}
                edge={order === 'newest' ? 'top' : 'bottom'}
                rowKey={(i) => statementKey(at(i)!)}
                selectedIndex={selectedIndex}
                selectedKey={selected}
                onEdgeChange={(edge) => setAway(!edge)}
                jumpRef={jumpRef}
                renderRow={(i, style) => {
                  const s = at(i)!;
                  const key = statementKey(s);
                  return <Row key={key} s={s} style={style} selected={key === selected} onSelect={select} />;
                }}
              />
            </>
          )}
        </div>
        {selected && <StatementDetail statementKey={selected} onClose={() => select(null)} />}
      </div>
    </div>
  );
}

const Row = memo(function Row(props: {
  s: LiveStatement;
  style: React.CSSProperties;
  selected: boolean;
  onSelect(key: string): void;
}) {
  const { s } = props;
  const masked = maskedCount(s);
  const key = statementKey(s);
  return (
    // biome-ignore lint/a11y/useSemanticElements: rows of a virtualized grid (see VirtualRows)
    <div
      className={`vrow grid-row${s.decision === 'block' ? ' blocked' : ''}${s.errorCode ? ' failed' : ''}`}
      style={props.style}
      role="row"
      tabIndex={-1}
      aria-selected={props.selected}
      data-key={key}
      onClick={() => props.onSelect(key)}
      onKeyDown={(e) => {
        if (e.key === 'Enter') props.onSelect(key);
      }}
    >
      <div className="time">{clockTime(s.startedAt)}</div>
      <div title={s.identity}>{s.identity}</div>
      <div className="col-conn dim" title={s.connection}>
        {s.connection}
      </div>
      <div className="sql" title={s.sql.length < 2000 ? s.sql : undefined}>
        {oneLine(s.sql, 300)}
      </div>
      <div className="num dim">{duration(s.durationUs)}</div>
      <div className="num col-rows">{count(s.rows)}</div>
      <div className="num col-masked">
        {masked > 0 ? <span className="masked-count">{count(masked)}</span> : <span className="dim">–</span>}
      </div>
      <div>
        <Pill kind={s.decision} />
      </div>
      <div className="col-error err" title={s.errorMessage ?? undefined}>
        {s.errorCode ? `${s.errorCode} ${s.errorMessage ?? ''}` : ''}
      </div>
    </div>
  );
});

function LiveToolbar() {
  const store = useAppStore();
  const filter = useApp((s) => s.inspector.filter);
  const identities = useApp((s) => s.inspector.identities);
  const connections = useApp((s) => s.inspector.connections);
  const paused = useApp((s) => s.inspector.paused);
  const backlog = useApp((s) => s.inspector.backlog);
  const order = useApp((s) => s.inspector.order);
  const shown = useApp((s) => s.inspector.shown);
  const total = useApp((s) => s.inspector.total);
  const rate = useApp((s) => s.inspector.rate);
  const [text, setText] = useState(filter.text);
  const st = store.getState();

  // Typing filters after a short pause, not on every key (50k rows to scan).
  useEffect(() => {
    if (text === store.getState().inspector.filter.text) return;
    const t = setTimeout(() => store.getState().setFilter({ text }), 120);
    return () => clearTimeout(t);
  }, [text, store]);
  useEffect(() => setText(filter.text), [filter.text]);

  return (
    <div className="live-bar">
      <div className="search">
        <Search size={14} />
        <input
          id="live-filter"
          className="input"
          type="search"
          placeholder="Filter by SQL, error, identity"
          aria-label="Filter statements"
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape') (e.target as HTMLInputElement).blur();
          }}
        />
        {text === '' && <kbd>/</kbd>}
      </div>
      <select
        className="select"
        aria-label="Identity"
        value={filter.identity}
        onChange={(e) => st.setFilter({ identity: e.target.value })}
      >
        <option value="">All identities</option>
        {identities.map((i) => (
          <option key={i} value={i}>
            {i}
          </option>
        ))}
      </select>
      <select
        className="select"
        aria-label="Connection"
        value={filter.connection}
        onChange={(e) => st.setFilter({ connection: e.target.value })}
      >
        <option value="">All connections</option>
        {connections.map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </select>
      <select
        className="select"
        aria-label="Decision"
        value={filter.decision}
        onChange={(e) => st.setFilter({ decision: e.target.value as DecisionFilter })}
      >
        <option value="">Any decision</option>
        <option value="allow">Allowed</option>
        <option value="warn">Warned</option>
        <option value="review">Held for review</option>
        <option value="block">Blocked</option>
        <option value="error">Failed (error)</option>
      </select>
      <div className="grow" />
      <span className="live-stats" aria-live="polite">
        {paused && backlog > 0 ? (
          <>
            <b>{count(backlog)}</b> new while paused ·{' '}
          </>
        ) : null}
        <b>{count(shown)}</b>
        {shown !== total ? <> of {count(total)}</> : null} statements
        {rate > 0 && !paused ? <> · {count(rate)}/s</> : null}
      </span>
      <fieldset className="seg" aria-label="Order">
        <button
          type="button"
          aria-pressed={order === 'newest'}
          onClick={() => st.setOrder('newest')}
          title="Newest on top (o)"
        >
          Newest on top
        </button>
        <button
          type="button"
          aria-pressed={order === 'tail'}
          onClick={() => st.setOrder('tail')}
          title="Follow the tail (o)"
        >
          Tail
        </button>
      </fieldset>
      <button
        type="button"
        className="btn"
        aria-pressed={paused}
        onClick={() => st.setPaused(!paused)}
        title="Pause or resume (space)"
      >
        {paused ? <Play size={14} /> : <Pause size={14} />}
        {paused ? 'Resume' : 'Pause'}
      </button>
    </div>
  );
}

function NoStatements() {
  const connections = useApp((s) => s.conn.list);
  const identities = useApp((s) => s.conn.identities);
  const store = useAppStore();
  const listening = connections.find((c) => c.state === 'listening');
  const identity =
    identities.find((i) => listening && i.connections.includes(listening.name)) ?? identities[0];
  const addr = listening?.address ?? listening?.listen ?? '127.0.0.1:6432';
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), addr.slice(addr.lastIndexOf(':') + 1)];
  const go = () => store.getState().navigate({ screen: 'connections', id: null });
  return (
    <Empty icon={<Activity size={26} />} title="Waiting for statements">
      <p>
        Every statement an agent runs through Bastion shows up here as it happens: who ran it, how long it
        took, what was masked or blocked.
      </p>
      <div className="steps">
        <div className={`step${connections.length > 0 ? ' done' : ''}`}>
          <span className="n">1</span>
          <div>
            <b>Add a database</b> and start its listener.{' '}
            {connections.length === 0 && (
              <button type="button" className="btn small" onClick={go}>
                Open Connections
              </button>
            )}
          </div>
        </div>
        <div className={`step${identities.length > 0 ? ' done' : ''}`}>
          <span className="n">2</span>
          <div>
            <b>Add an identity</b>: the user name and password an agent logs in with.
          </div>
        </div>
        <div className="step">
          <span className="n">3</span>
          <div>
            <b>Point a client at the listener</b>, for example:
            <code>
              psql "host={host} port={port} user={identity?.name ?? 'agent-1'} dbname=app sslmode=require"
            </code>
          </div>
        </div>
      </div>
    </Empty>
  );
}
