// One statement in full: its text, facts, error, masking, and the frames that carried it (read
// from the store with readFrames, decoded by the core).

import { useEffect, useState } from 'react';
import type { FrameView } from '../../../shared/types.js';
import { History } from '../components/icons.js';
import { CloseButton, CopyButton, Pill } from '../components/ui.js';
import { useApi, useApp, useAppStore } from '../context.js';
import { clockTime, count, dateTime, duration } from '../lib/format.js';
import { highlightSql } from '../lib/sql.js';
import { maskedCount } from '../state/filter.js';

const MAX_FRAMES = 500;

export function StatementDetail({ statementKey, onClose }: { statementKey: string; onClose(): void }) {
  const store = useAppStore();
  // Re-read when rows change (the statement may have been trimmed from memory).
  useApp((s) => s.inspector.version);
  const s = store.getState().statements.byKey.get(statementKey);
  const api = useApi();
  const [frames, setFrames] = useState<FrameView[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!s) return;
    let cancelled = false;
    let tries = 0;
    setFrames(null);
    setError(null);
    const want = Math.min(MAX_FRAMES, s.lastFrame - s.firstFrame + 1);
    const load = () => {
      api.readFrames(s.sessionId, s.firstFrame, want).then(
        (f) => {
          if (cancelled) return;
          // Recording is batched: a statement that just finished may not be written yet.
          if (f.length < want && tries++ < 8) {
            setTimeout(load, 250);
            return;
          }
          setFrames(f);
        },
        (e: Error) => {
          if (!cancelled) setError(e.message);
        },
      );
    };
    load();
    return () => {
      cancelled = true;
    };
  }, [s, api]);

  if (!s) {
    return (
      <aside className="detail" aria-label="Statement">
        <div className="detail-head">
          <h2>Statement</h2>
          <CloseButton onClick={onClose} />
        </div>
        <div className="detail-body muted">
          This statement is no longer in memory. It is still in the store.
        </div>
      </aside>
    );
  }

  const masked = maskedCount(s);
  const frameCount = s.lastFrame - s.firstFrame + 1;
  return (
    <aside className="detail" aria-label="Statement">
      <div className="detail-head">
        <h2>
          Statement #{s.seq} <span className="muted">· {s.identity}</span>
        </h2>
        <Pill kind={s.decision} />
        {s.errorCode && <Pill kind="error">error</Pill>}
        <button
          type="button"
          className="btn small"
          title="Open its session in the replayer, at this statement"
          onClick={() =>
            store.getState().navigate({ screen: 'replay', id: `${s.sessionId}/${s.firstFrame}` })
          }
        >
          <History size={14} /> Replay
        </button>
        <CloseButton onClick={onClose} />
      </div>
      <div className="detail-body">
        <div className="section-title" style={{ display: 'flex', alignItems: 'center' }}>
          <span style={{ flex: 1 }}>SQL</span>
          <CopyButton text={s.sql} label="Copy the statement" />
        </div>
        <pre className="sqlbox mono">{highlightSql(s.sql)}</pre>
        {s.errorCode && (
          <div className="errbox">
            <code>{s.errorCode}</code>
            {s.errorMessage}
          </div>
        )}
        <div className="section-title">Facts</div>
        <div className="facts">
          <Fact k="Identity" v={s.identity} />
          <Fact k="Connection" v={s.connection} />
          <Fact k="Started" v={clockTime(s.startedAt)} title={dateTime(s.startedAt)} />
          <Fact k="Duration" v={duration(s.durationUs)} />
          <Fact k="Rows" v={count(s.rows)} />
          <Fact k="Result" v={s.tag ?? '–'} />
          <Fact k="Protocol" v={s.protocol} />
          <Fact k="Rule" v={s.rule ?? '–'} />
          <Fact k="Masked values" v={count(masked)} />
          <Fact k="Session" v={s.sessionId.slice(0, 8)} title={s.sessionId} />
        </div>
        {masked > 0 && (
          <>
            <div className="section-title">Masked, by rule</div>
            <div>
              {Object.entries(s.masked).map(([rule, n]) => (
                <span key={rule} className="chip">
                  {rule}: {count(n)}
                </span>
              ))}
            </div>
          </>
        )}
        {s.params && s.params.length > 0 && (
          <>
            <div className="section-title">Parameters</div>
            <div className="recent">
              {s.params.map((p, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: parameters are positional
                <div key={i} style={{ gridTemplateColumns: '40px minmax(0,1fr)' }}>
                  <span className="muted mono">${i + 1}</span>
                  <code>{p === null ? 'NULL' : p}</code>
                </div>
              ))}
            </div>
          </>
        )}
        {s.truncated && (
          <p className="muted">
            The response passed the capture limit: {count(s.uncapturedRows)} rows ({count(s.uncapturedBytes)}{' '}
            bytes) were counted and digested, not stored.
          </p>
        )}
        <div className="section-title">
          Frames {s.firstFrame}–{s.lastFrame} ({count(frameCount)}
          {frameCount > MAX_FRAMES ? `, first ${MAX_FRAMES} shown` : ''})
        </div>
        {error ? (
          <div className="errbox">{error}</div>
        ) : frames === null ? (
          <div className="muted">Reading frames…</div>
        ) : frames.length === 0 ? (
          <div className="muted">No frames recorded yet.</div>
        ) : (
          <ol className="frames" aria-label="Frames">
            {frames.map((f) => (
              <Frame key={f.seq} f={f} base={frames[0]!.t_us} />
            ))}
          </ol>
        )}
      </div>
    </aside>
  );
}

function Fact({ k, v, title }: { k: string; v: string; title?: string }) {
  return (
    <div className="fact">
      <div className="k">{k}</div>
      <div className="v" title={title ?? v}>
        {v}
      </div>
    </div>
  );
}

function summary(f: FrameView): string {
  const d = f.decoded as Record<string, unknown>;
  if (typeof d.sql === 'string') return d.sql;
  if (typeof d.tag === 'string') return d.tag;
  if (typeof d.message === 'string') return `${d.code ?? ''} ${d.message}`;
  if (Array.isArray(d.fields)) return (d.fields as { name?: string }[]).map((x) => x.name).join(', ');
  if (Array.isArray(d.values))
    return (d.values as unknown[]).map((v) => (v === null ? 'NULL' : String(v))).join(' | ');
  if (typeof d.status === 'string') return `status ${d.status}`;
  const json = JSON.stringify(d);
  return json === '{}' ? '' : json;
}

function Frame({ f, base }: { f: FrameView; base: number }) {
  const [open, setOpen] = useState(false);
  return (
    <li className="frame">
      <button type="button" className="frame-line" onClick={() => setOpen(!open)} aria-expanded={open}>
        <span className="seq">#{f.seq}</span>
        <span className="t">+{((f.t_us - base) / 1000).toFixed(2)}ms</span>
        <span className={`dir ${f.dir}`} title={f.dir === 'client' ? 'client → server' : 'server → client'}>
          {f.dir === 'client' ? '→' : '←'}
        </span>
        <span className="type">{f.type}</span>
        <span className="sum">{summary(f)}</span>
      </button>
      {open && <pre>{JSON.stringify(f.decoded, null, 2)}</pre>}
    </li>
  );
}
