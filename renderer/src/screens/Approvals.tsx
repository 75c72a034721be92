// Approvals: statements a guardrail held until a person decides. Pending ones count down to
// their expiry; each shows the full statement, the rule, the reasons and the session's recent
// statements, with Approve / Deny. History shows who decided what.

import { useEffect, useMemo, useState } from 'react';
import type { Approval } from '../../../shared/api.js';
import { Check, Clock, Gavel, X } from '../components/icons.js';
import { Empty, Pill, typingIn, useNow } from '../components/ui.js';
import { useApp, useAppStore } from '../context.js';
import { ago, clockTime, dateTime, mmss, oneLine } from '../lib/format.js';
import { highlightSql } from '../lib/sql.js';
import { approvalHistory, pendingApprovals } from '../state/approvals.js';

export function Approvals() {
  const store = useAppStore();
  const byId = useApp((s) => s.approvals.byId);
  const selected = useApp((s) => s.approvals.selected);
  const loaded = useApp((s) => s.approvals.loaded);
  const pending = useMemo(() => pendingApprovals(byId), [byId]);
  const history = useMemo(() => approvalHistory(byId), [byId]);
  const [tab, setTab] = useState<'pending' | 'history'>(
    selected && byId[selected] && byId[selected].state !== 'pending' ? 'history' : 'pending',
  );
  const open = (id: string | null) => store.getState().navigate({ screen: 'approvals', id });

  // Keep something useful open: the selected approval, else the first pending one.
  const current = (selected && byId[selected]) || (tab === 'pending' ? pending[0] : undefined) || null;
  // In the history tab, a decided approval opens beside the table.
  const decided = current && current.state !== 'pending' ? current : null;

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (typingIn(e) || e.metaKey || e.ctrlKey || e.altKey || document.querySelector('.backdrop')) return;
      const list = tab === 'pending' ? pending : history;
      const i = current ? list.findIndex((a) => a.id === current.id) : -1;
      if (e.key === 'j' || e.key === 'ArrowDown') {
        const a = list[Math.min(list.length - 1, i + 1)];
        if (a) open(a.id);
      } else if (e.key === 'k' || e.key === 'ArrowUp') {
        const a = list[Math.max(0, i - 1)];
        if (a) open(a.id);
      } else if ((e.key === 'a' || e.key === 'd') && current?.state === 'pending') {
        e.preventDefault();
        void store.getState().decideApproval(current.id, e.key === 'a' ? 'approve' : 'deny');
      } else if (e.key === 'h') {
        setTab(tab === 'pending' ? 'history' : 'pending');
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  return (
    <>
      <header className="page-head">
        <h1>Approvals</h1>
        <span className="sub">Statements held by a guardrail wait here until someone decides.</span>
        <span className="grow" />
        <div className="tabs" role="tablist" aria-label="Approvals">
          <button
            type="button"
            role="tab"
            aria-selected={tab === 'pending'}
            onClick={() => setTab('pending')}
          >
            Pending {pending.length > 0 && <span className="badge">{pending.length}</span>}
          </button>
          <button
            type="button"
            role="tab"
            aria-selected={tab === 'history'}
            onClick={() => setTab('history')}
          >
            History {history.length > 0 && <span className="badge dim">{history.length}</span>}
          </button>
        </div>
      </header>
      {tab === 'pending' ? (
        pending.length === 0 && !(current && current.state === 'pending') ? (
          <div className="page-body">
            {loaded && (
              <Empty icon={<Gavel size={26} />} title="Nothing is waiting for a decision">
                <p>
                  When a guardrail holds a statement for review (by default a DELETE or UPDATE without a WHERE
                  clause), the client waits and the statement appears here with a countdown. The desktop app
                  also shows a notification.
                </p>
                <p className="muted">
                  Approve lets it run; Deny returns an error to the client. An identity can never approve its
                  own statement.
                </p>
                {history.length > 0 && (
                  <button type="button" className="btn" onClick={() => setTab('history')}>
                    See {history.length} past decision{history.length === 1 ? '' : 's'}
                  </button>
                )}
              </Empty>
            )}
          </div>
        ) : (
          <div className="appr">
            <div className="appr-list" role="listbox" aria-label="Pending approvals">
              {pending.map((a) => (
                <PendingItem key={a.id} a={a} selected={current?.id === a.id} onOpen={() => open(a.id)} />
              ))}
            </div>
            {current ? <ApprovalDetail a={current} /> : <div />}
          </div>
        )
      ) : history.length === 0 ? (
        <div className="page-body">
          <Empty icon={<Clock size={26} />} title="No decisions yet">
            <p>Approved, denied and expired statements are listed here with who decided and when.</p>
          </Empty>
        </div>
      ) : (
        <div className={decided ? 'appr' : 'page-body'}>
          <div className={decided ? 'appr-list flush' : ''}>
            <HistoryTable list={history} selected={decided?.id ?? null} onOpen={open} compact={!!decided} />
          </div>
          {decided && <ApprovalDetail a={decided} />}
        </div>
      )}
    </>
  );
}

function Countdown({ a, bar = false }: { a: Approval; bar?: boolean }) {
  const now = useNow(250);
  const left = a.expiresAt / 1000 - now;
  const total = Math.max(1, (a.expiresAt - a.requestedAt) / 1000);
  const urgent = left < Math.min(15_000, total * 0.25);
  if (bar) {
    return (
      <div className={`bar${urgent ? ' urgent' : ''}`} aria-hidden="true">
        <div style={{ width: `${Math.max(0, Math.min(100, (left / total) * 100))}%` }} />
      </div>
    );
  }
  return (
    <span className={`countdown${urgent ? ' urgent' : ''}`} title={`expires at ${dateTime(a.expiresAt)}`}>
      {left > 0 ? `${mmss(left)} left` : 'expiring'}
    </span>
  );
}

function PendingItem({ a, selected, onOpen }: { a: Approval; selected: boolean; onOpen(): void }) {
  return (
    <button type="button" className="appr-item" role="option" aria-selected={selected} onClick={onOpen}>
      <div className="top">
        <b>{a.identity}</b>
        <span>on {a.connection}</span>
        <span className="grow" />
        <Countdown a={a} />
      </div>
      <div className="sql">{oneLine(a.sql, 200)}</div>
      <Countdown a={a} bar />
    </button>
  );
}

function ApprovalDetail({ a }: { a: Approval }) {
  const store = useAppStore();
  const deciding = useApp((s) => s.approvals.deciding[a.id]);
  const error = useApp((s) => s.approvals.error);
  const decideAs = useApp((s) => s.approvals.decideAs);
  const decide = (d: 'approve' | 'deny') => void store.getState().decideApproval(a.id, d);
  return (
    <section className="appr-detail" aria-label="Approval">
      <div className="appr-title">
        <h2>
          {a.state === 'pending' ? 'Held for review' : 'Statement'} · {a.identity}
        </h2>
        <Pill kind={a.state} />
        {a.state === 'pending' && <Countdown a={a} />}
      </div>
      <div className="appr-sub">
        on <b>{a.connection}</b> · requested {clockTime(a.requestedAt)} ({ago(a.requestedAt)}) · session{' '}
        <span className="mono" title={a.sessionId}>
          {a.sessionId.slice(0, 8)}
        </span>
      </div>
      <pre className="sqlbox mono">{highlightSql(a.sql)}</pre>

      {a.state === 'pending' ? (
        <div className="decide">
          <button
            type="button"
            className="btn good big"
            disabled={!!deciding}
            onClick={() => decide('approve')}
            title="Approve (a)"
          >
            <Check /> {deciding === 'approve' ? 'Approving…' : 'Approve'}
          </button>
          <button
            type="button"
            className="btn danger solid big"
            disabled={!!deciding}
            onClick={() => decide('deny')}
            title="Deny (d)"
          >
            <X /> {deciding === 'deny' ? 'Denying…' : 'Deny'}
          </button>
          <span className="grow" />
          <label>
            Decide as
            <input
              className="input"
              style={{ width: 150 }}
              placeholder="you (host user)"
              value={decideAs}
              aria-label="Decide as"
              onChange={(e) => store.getState().setDecideAs(e.target.value)}
            />
          </label>
        </div>
      ) : (
        <div className="decide">
          <span>
            <Pill kind={a.state} />{' '}
            {a.state === 'expired' ? (
              'Nobody decided in time: the statement was refused.'
            ) : a.state === 'cancelled' ? (
              'The session ended before a decision.'
            ) : (
              <>
                by <b>{a.decidedBy ?? 'unknown'}</b>
              </>
            )}
            {a.decidedAt ? <span className="muted"> · {dateTime(a.decidedAt)}</span> : null}
          </span>
        </div>
      )}
      {error && a.state === 'pending' && <div className="errbox">{error}</div>}

      <div className="section-title">Why it was held</div>
      <div className="reason">
        <div className="k">Rule {a.rule ? <span className="mono">{a.rule}</span> : '(none)'}</div>
        <div>{a.reason}</div>
      </div>
      {a.clientReason && (
        <>
          <div className="section-title">The client's reason</div>
          <div
            className="reason"
            style={{ borderLeftColor: 'var(--accent)', background: 'var(--accent-soft)' }}
          >
            {a.clientReason}
          </div>
        </>
      )}
      <div className="section-title">Recent statements in this session</div>
      {a.recent.length === 0 ? (
        <div className="muted">This was the session's first statement.</div>
      ) : (
        <div className="recent">
          {a.recent.map((r, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: a fixed, ordered list
            <div key={i}>
              <span className="muted mono">{clockTime(r.at)}</span>
              <span>
                <Pill kind={r.decision} />
              </span>
              <code title={r.sql}>{oneLine(r.sql, 300)}</code>
            </div>
          ))}
        </div>
      )}
    </section>
  );
}

function HistoryTable(props: {
  list: Approval[];
  selected: string | null;
  onOpen(id: string): void;
  compact: boolean;
}) {
  return (
    <table className="tbl">
      <thead>
        <tr>
          {!props.compact && <th>Requested</th>}
          <th>Identity</th>
          {!props.compact && <th>Connection</th>}
          <th>Statement</th>
          <th>Outcome</th>
          {!props.compact && <th>Decided by</th>}
          {!props.compact && <th>Decided</th>}
        </tr>
      </thead>
      <tbody>
        {props.list.map((a) => (
          <tr
            key={a.id}
            className="clickable"
            aria-selected={props.selected === a.id}
            onClick={() => props.onOpen(a.id)}
            style={props.selected === a.id ? { background: 'var(--bg-active)' } : undefined}
          >
            {!props.compact && <td className="nowrap mono">{clockTime(a.requestedAt)}</td>}
            <td>{a.identity}</td>
            {!props.compact && <td className="muted">{a.connection}</td>}
            <td className="sqlcell" style={props.compact ? { maxWidth: 140 } : undefined}>
              {oneLine(a.sql, 200)}
            </td>
            <td>
              <Pill kind={a.state} />
            </td>
            {!props.compact && <td>{a.decidedBy ?? <span className="muted">–</span>}</td>}
            {!props.compact && <td className="nowrap muted">{a.decidedAt ? ago(a.decidedAt) : '–'}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
