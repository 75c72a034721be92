// The policy editor: the policies section in YAML (Monaco), checked against its JSON schema as
// you type and by the gateway when the text passes, problems underlined where they are; a
// preview that runs the guardrails on pasted SQL with the text as edited (as `bastion check`), and
// one that runs a SELECT on a connection with its masking rules (masked values only);
// saving applies to the running listeners (sessions that log in from then on) and is recorded
// with who, when and the diff; the history of those changes.

import { lazy, Suspense, useEffect, useRef, useState } from 'react';
import type { MaskPreview, PolicyChange } from '../../../shared/api.js';
import { Check, History, Sliders } from '../components/icons.js';
import { Empty, Pill } from '../components/ui.js';
import { useApi, useApp, useAppStore } from '../context.js';
import { useDomTheme } from '../lib/dom-theme.js';
import { dateTime } from '../lib/format.js';
import { isDirty, visibleProblems } from '../state/policies.js';
import { sortProblems } from '../state/policy-text.js';

const PolicyEditor = lazy(() => import('../components/PolicyEditor.js'));

/** The toast after a save: the change applies to new sessions and, at their next statement, to open ones. */
export function savedMessage(switched: number): string {
  const open =
    switched === 0
      ? 'no open session was using a changed policy'
      : `${switched} open session${switched === 1 ? '' : 's'} switched at their next statement`;
  return `Policies saved: new sessions use them now; ${open}. The change is recorded.`;
}

export function Policies() {
  const store = useAppStore();
  const p = useApp((s) => s.policies);
  const theme = useDomTheme();
  const reveal = useRef<((line: number, column: number) => void) | null>(null);
  const [tab, setTab] = useState<'preview' | 'masking' | 'history'>('preview');

  useEffect(() => {
    void store.getState().loadPolicies();
  }, [store]);

  // The gateway's own checks, once the text rests and passes the instant ones.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs again for every new text
  useEffect(() => {
    if (!p.loaded) return;
    const t = setTimeout(() => void store.getState().validatePolicyDraft(), 350);
    return () => clearTimeout(t);
  }, [p.draft, p.loaded, store]);

  const problems = sortProblems(visibleProblems(p));
  const dirty = isDirty(p);
  const save = async () => {
    const st = store.getState();
    if (!isDirty(st.policies)) return;
    const ok = await st.savePolicyDraft();
    if (ok) st.toast('success', savedMessage(store.getState().policies.switchedSessions ?? 0));
    else if (st.policies.saveError) st.toast('error', st.policies.saveError);
  };

  return (
    <div className="page">
      <header className="page-head">
        <h1>Policies</h1>
        <span className="sub">Guardrails and masking rules, checked as you type</span>
        <span className="grow" />
        <span className={`policy-status${problems.length ? ' bad' : ''}`} aria-live="polite">
          {!p.loaded
            ? ''
            : problems.length
              ? `${problems.length} problem${problems.length === 1 ? '' : 's'}`
              : p.validating
                ? 'Checking…'
                : dirty
                  ? 'Valid · not saved'
                  : 'Saved'}
        </span>
        <label className="field-inline">
          <span>Changed by</span>
          <input
            className="input"
            style={{ width: 130 }}
            aria-label="Changed by"
            placeholder="you"
            value={p.changedBy}
            onChange={(e) => store.getState().setChangedBy(e.target.value)}
          />
        </label>
        <button
          type="button"
          className="btn"
          disabled={!dirty || p.saving}
          onClick={() => store.getState().revertPolicyDraft()}
        >
          Revert
        </button>
        <button
          type="button"
          className="btn primary"
          disabled={!dirty || p.saving || p.clientProblems.length > 0}
          onClick={() => void save()}
          title="Save and apply (Ctrl+S)"
        >
          <Check size={14} /> {p.saving ? 'Saving…' : 'Save and apply'}
        </button>
      </header>
      {p.error && (
        <div className="banner" role="alert">
          {p.error}
        </div>
      )}
      <div className="policy-split">
        <section className="policy-editor" aria-label="Policy text">
          <div className="editor-frame">
            {p.loaded ? (
              <Suspense fallback={<div className="muted pad">Loading the editor…</div>}>
                <PolicyEditor
                  value={p.draft}
                  onChange={(t) => store.getState().setPolicyDraft(t)}
                  problems={problems}
                  theme={theme}
                  onSave={() => void save()}
                  revealRef={reveal}
                />
              </Suspense>
            ) : (
              <div className="muted pad">Reading the policies…</div>
            )}
          </div>
          <ul className="problems" aria-label="Problems">
            {problems.map((x) => (
              <li key={`${x.line}:${x.column}:${x.message}`}>
                <button type="button" onClick={() => reveal.current?.(x.line, x.column)}>
                  <span className="where mono">
                    {x.line}:{x.column}
                  </span>
                  <span className="msg">{x.message}</span>
                  {x.keyPath && <span className="kp mono">{x.keyPath}</span>}
                </button>
              </li>
            ))}
          </ul>
        </section>
        <section className="policy-side" aria-label="Preview and history">
          <div className="tabs" role="tablist" aria-label="Side panel">
            <button
              type="button"
              role="tab"
              aria-selected={tab === 'preview'}
              onClick={() => setTab('preview')}
            >
              <Sliders size={14} /> Guardrail preview
            </button>
            <button
              type="button"
              role="tab"
              aria-selected={tab === 'masking'}
              onClick={() => setTab('masking')}
            >
              <Sliders size={14} /> Masking preview
            </button>
            <button
              type="button"
              role="tab"
              aria-selected={tab === 'history'}
              onClick={() => setTab('history')}
            >
              <History size={14} /> Changes
            </button>
          </div>
          {tab === 'preview' && <Preview />}
          {tab === 'masking' && <MaskingPreview />}
          {tab === 'history' && <Changes changes={p.history} />}
        </section>
      </div>
    </div>
  );
}

/**
 * Runs one SELECT on a connection with the masking rules as edited (unsaved): the gateway returns
 * only the masked grid and the counts by rule, never raw values.
 */
function MaskingPreview() {
  const api = useApi();
  const draft = useApp((s) => s.policies.draft);
  const identities = useApp((s) => s.policies.identities);
  const connections = useApp((s) => s.conn.list);
  const [connection, setConnection] = useState('');
  const [identity, setIdentity] = useState('');
  const [sql, setSql] = useState('');
  const [running, setRunning] = useState(false);
  const [result, setResult] = useState<MaskPreview | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const target = connection || connections[0]?.name || '';

  const run = async () => {
    setRunning(true);
    setFailure(null);
    try {
      setResult(await api.previewMasking(draft, target, sql, identity || null));
    } catch (e) {
      setFailure((e as Error).message);
    } finally {
      setRunning(false);
    }
  };

  return (
    <div className="preview">
      <p className="muted">
        Runs one read-only SELECT on the connection with the masking rules as edited here, not saved. Only
        masked values are shown.
      </p>
      <textarea
        className="input sql-input mono"
        aria-label="SELECT to preview"
        placeholder="select * from customers limit 20"
        spellCheck={false}
        value={sql}
        onChange={(e) => setSql(e.target.value)}
      />
      <div className="toolbar">
        <label className="field-inline">
          <span>Connection</span>
          <select
            className="select"
            aria-label="Connection"
            value={target}
            onChange={(e) => setConnection(e.target.value)}
          >
            {connections.map((c) => (
              <option key={c.name} value={c.name}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field-inline">
          <span>As identity</span>
          <select
            className="select"
            aria-label="Masking as identity"
            value={identity}
            onChange={(e) => setIdentity(e.target.value)}
          >
            <option value="">none (default policy)</option>
            {identities.map((i) => (
              <option key={i.name} value={i.name}>
                {i.name} ({i.policy})
              </option>
            ))}
          </select>
        </label>
        <span className="grow" />
        <button
          type="button"
          className="btn primary"
          disabled={running || !target || sql.trim() === ''}
          onClick={() => void run()}
        >
          {running ? 'Running…' : 'Run'}
        </button>
      </div>
      {failure && <div className="errbox">{failure}</div>}
      {result?.error && <div className="errbox">{result.error}</div>}
      {result && Object.keys(result.masked).length > 0 && (
        <div className="muted" role="status" aria-label="Masked by rule">
          Masked:{' '}
          {Object.entries(result.masked)
            .map(([rule, n]) => `${rule} ${n}`)
            .join(', ')}
          {result.truncated && ' (first 200 rows shown)'}
        </div>
      )}
      {result && result.columns.length > 0 && (
        <table className="tbl compact" aria-label="Masked result">
          <thead>
            <tr>
              {result.columns.map((c, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: columns are positional
                <th key={i}>{c}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {result.rows.map((row, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: rows are positional
              <tr key={i}>
                {row.map((v, j) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: cells are positional
                  <td key={j} className="mono">
                    {v ?? 'NULL'}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Preview() {
  const store = useAppStore();
  const check = useApp((s) => s.policies.check);
  const draft = useApp((s) => s.policies.draft);
  const identities = useApp((s) => s.policies.identities);
  const clientProblems = useApp((s) => s.policies.clientProblems.length);

  // biome-ignore lint/correctness/useExhaustiveDependencies: runs again when the SQL, identity or text changes
  useEffect(() => {
    if (clientProblems > 0) return;
    const t = setTimeout(() => void store.getState().runPolicyCheck(), 300);
    return () => clearTimeout(t);
  }, [check.sql, check.identity, draft, clientProblems, store]);

  const r = check.result;
  return (
    <div className="preview">
      <p className="muted">
        Paste SQL: each statement is decided by the policies as edited here, not saved (as{' '}
        <code>bastion check</code>).
      </p>
      <textarea
        className="input sql-input mono"
        aria-label="SQL to check"
        placeholder={'select * from customers;\ndelete from orders;'}
        spellCheck={false}
        value={check.sql}
        onChange={(e) => store.getState().setPolicyCheck({ sql: e.target.value })}
      />
      <div className="toolbar">
        <label className="field-inline">
          <span>As identity</span>
          <select
            className="select"
            aria-label="As identity"
            value={check.identity}
            onChange={(e) => store.getState().setPolicyCheck({ identity: e.target.value })}
          >
            <option value="">none (default policy)</option>
            {identities.map((i) => (
              <option key={i.name} value={i.name}>
                {i.name} ({i.policy})
              </option>
            ))}
          </select>
        </label>
        <span className="grow" />
        {check.running && <span className="muted">Checking…</span>}
        {r && !check.running && r.problems.length === 0 && <span className="muted">Policy: {r.policy}</span>}
      </div>
      {check.error && <div className="errbox">{check.error}</div>}
      {clientProblems > 0 && check.sql.trim() !== '' && (
        <div className="muted">Fix the problems in the text to see its decisions.</div>
      )}
      {r && r.problems.length > 0 && (
        <div className="errbox">The text has problems: nothing was decided.</div>
      )}
      {r && r.statements.length > 0 && (
        <table className="tbl compact" aria-label="Decisions">
          <thead>
            <tr>
              <th>Statement</th>
              <th>Decision</th>
              <th>Rule</th>
            </tr>
          </thead>
          <tbody>
            {r.statements.map((s, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: statements are positional
              <tr key={i}>
                <td>
                  <div className="mono sqlcell" title={s.sql}>
                    {s.sql}
                  </div>
                  <div className="why">{s.reason}</div>
                </td>
                <td>
                  <Pill kind={s.action} />
                </td>
                <td className="mono nowrap">{s.rule ?? '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** A unified diff, additions and removals coloured. */
function DiffText({ diff }: { diff: string }) {
  const seen = new Map<string, number>();
  return (
    <pre className="diff mono">
      {diff.split('\n').map((line) => {
        // Lines repeat (blank context lines): the nth copy of a line is its key.
        const n = (seen.get(line) ?? 0) + 1;
        seen.set(line, n);
        const kind =
          line.startsWith('+') && !line.startsWith('+++')
            ? 'add'
            : line.startsWith('-') && !line.startsWith('---')
              ? 'del'
              : line.startsWith('@@')
                ? 'hunk'
                : undefined;
        return (
          <span key={`${n}:${line}`} className={kind}>
            {line}
            {'\n'}
          </span>
        );
      })}
    </pre>
  );
}

function Changes({ changes }: { changes: PolicyChange[] }) {
  const [open, setOpen] = useState<number | null>(changes[0]?.id ?? null);
  if (changes.length === 0) {
    return (
      <Empty small icon={<History size={20} />} title="No changes recorded yet">
        <p>Every save is recorded in the store with who, when and what changed.</p>
      </Empty>
    );
  }
  return (
    <ol className="changes" aria-label="Policy changes">
      {changes.map((c) => (
        <li key={c.id}>
          <button
            type="button"
            className="change-line"
            aria-expanded={open === c.id}
            onClick={() => setOpen(open === c.id ? null : c.id)}
          >
            <span className="mono dim">{dateTime(c.at)}</span>
            <b>{c.by}</b>
            <span className="grow">{c.summary}</span>
            <span className="dim mono">#{c.id}</span>
          </button>
          {open === c.id && <DiffText diff={c.diff} />}
        </li>
      ))}
    </ol>
  );
}
