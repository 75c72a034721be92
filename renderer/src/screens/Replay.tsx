// The replayer: one recorded session frame by frame. A timeline of its statements (colored by
// decision) with a scrubber; step, play at the recorded speed or faster, jump to a statement; the
// frame at the cursor decoded (or its bytes); the result grid as the client saw it at that moment;
// the statements beside it with their decision and rule. Frames and statements are read in pages
// around the cursor and the lists are virtualized, so a session of 100,000 frames opens at once.

import { useCallback, useEffect, useLayoutEffect, useRef } from 'react';
import type { FrameView, StatementRecord } from '../../../shared/types.js';
import {
  ArrowLeft,
  History,
  Pause,
  Play,
  SkipBack,
  SkipForward,
  StepBack,
  StepForward,
} from '../components/icons.js';
import { CopyButton, Empty, Pill, typingIn } from '../components/ui.js';
import { VirtualList } from '../components/VirtualList.js';
import { useApp, useAppStore } from '../context.js';
import { useDomTheme } from '../lib/dom-theme.js';
import { count, dateTime, duration, oneLine } from '../lib/format.js';
import { highlightSql } from '../lib/sql.js';
import {
  FRAME_PAGE,
  frameSummary,
  hexDump,
  markOf,
  type ResultGrid,
  resultGrid,
  SPEEDS,
} from '../state/replay.js';

const FRAME_ROW = 26;
const STATEMENT_ROW = 44;

export function Replay() {
  const store = useAppStore();
  const info = useApp((s) => s.replay.info);
  const loading = useApp((s) => s.replay.loading);
  const error = useApp((s) => s.replay.error);
  const playing = useApp((s) => s.replay.playing);

  // Playback: one tick per animation frame while playing.
  useEffect(() => {
    if (!playing) return;
    let last = performance.now();
    let raf = requestAnimationFrame(function tick(now) {
      store.getState().playTick(Math.min(250, now - last));
      last = now;
      raf = requestAnimationFrame(tick);
    });
    return () => cancelAnimationFrame(raf);
  }, [playing, store]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (typingIn(e) || e.metaKey || e.ctrlKey || e.altKey || document.querySelector('.backdrop')) return;
      const st = store.getState();
      if (!st.replay.info) return;
      const k = e.key;
      if (k === 'ArrowRight' || k === 'l') st.stepFrame(e.shiftKey ? 10 : 1);
      else if (k === 'ArrowLeft' || k === 'h') st.stepFrame(e.shiftKey ? -10 : -1);
      else if (k === 'ArrowDown' || k === 'j' || k === ']') st.stepStatement(1);
      else if (k === 'ArrowUp' || k === 'k' || k === '[') st.stepStatement(-1);
      else if (k === ' ' || k === 'p') st.setPlaying(!st.replay.playing);
      else if (k === 'Home') st.seekFrame(1);
      else if (k === 'End') st.seekFrame(st.replay.info.frames);
      else if (k === 'b') st.setReplayPanel(st.replay.panel === 'bytes' ? 'decoded' : 'bytes');
      else if (k === 'Escape') st.navigate({ screen: 'sessions', id: null });
      else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store]);

  const back = (
    <button
      type="button"
      className="btn ghost small"
      onClick={() => store.getState().navigate({ screen: 'sessions', id: null })}
      title="Back to the sessions (Esc)"
    >
      <ArrowLeft size={14} /> Sessions
    </button>
  );

  if (!info) {
    return (
      <div className="page">
        <header className="page-head">
          {back}
          <h1>Replay</h1>
        </header>
        <div className="page-body">
          {error ? (
            <div className="errbox">{error}</div>
          ) : loading ? (
            <div className="muted">Opening the session…</div>
          ) : (
            <Empty icon={<History size={22} />} title="Choose a session to replay">
              <p>Open one from the Sessions screen.</p>
            </Empty>
          )}
        </div>
      </div>
    );
  }

  const s = info.session;
  return (
    <div className="page replay">
      <header className="page-head">
        {back}
        <h1>
          Replay <span className="mono dim">{s.id.slice(0, 8)}</span>
        </h1>
        <span className="sub">
          {s.identity} on {s.connection} from {s.clientAddress} · {dateTime(s.startedAt)} ·{' '}
          {s.endedAt === null ? 'open' : duration(s.endedAt - s.startedAt)} · {count(s.statements)} statements
          · {count(info.frames)} frames
        </span>
      </header>
      {error && (
        <div className="banner" role="alert">
          {error}
        </div>
      )}
      <Controls />
      <Timeline />
      <div className="replay-split">
        <StatementList />
        <FrameList />
        <FramePanel />
      </div>
    </div>
  );
}

function Controls() {
  const store = useAppStore();
  const cursor = useApp((s) => s.replay.cursor);
  const playing = useApp((s) => s.replay.playing);
  const speed = useApp((s) => s.replay.speed);
  const frames = useApp((s) => s.replay.info?.frames ?? 0);
  useApp((s) => s.replay.version);
  const data = store.getState().replayData;
  const f = data.frames.get(cursor);
  const st = store.getState();
  return (
    <div className="replay-bar" role="toolbar" aria-label="Playback">
      <button
        type="button"
        className="btn icon small"
        onClick={() => st.stepStatement(-1)}
        title="Previous statement (k)"
        aria-label="Previous statement"
      >
        <SkipBack size={14} />
      </button>
      <button
        type="button"
        className="btn icon small"
        onClick={() => st.stepFrame(-1)}
        title="Previous frame (←)"
        aria-label="Previous frame"
      >
        <StepBack size={14} />
      </button>
      <button
        type="button"
        className="btn small primary"
        onClick={() => st.setPlaying(!playing)}
        title={playing ? 'Pause (space)' : 'Play at the recorded speed (space)'}
      >
        {playing ? <Pause size={14} /> : <Play size={14} />} {playing ? 'Pause' : 'Play'}
      </button>
      <button
        type="button"
        className="btn icon small"
        onClick={() => st.stepFrame(1)}
        title="Next frame (→)"
        aria-label="Next frame"
      >
        <StepForward size={14} />
      </button>
      <button
        type="button"
        className="btn icon small"
        onClick={() => st.stepStatement(1)}
        title="Next statement (j)"
        aria-label="Next statement"
      >
        <SkipForward size={14} />
      </button>
      <fieldset className="seg" aria-label="Speed">
        {SPEEDS.map((x) => (
          <button key={x} type="button" aria-pressed={speed === x} onClick={() => st.setSpeed(x)}>
            ×{x}
          </button>
        ))}
      </fieldset>
      <span className="grow" />
      <label className="field-inline mono">
        Frame
        <input
          className="input frame-input"
          type="number"
          min={1}
          max={frames}
          aria-label="Current frame"
          value={cursor}
          onChange={(e) => {
            const n = Number(e.target.value);
            if (Number.isInteger(n) && n >= 1) st.seekFrame(n);
          }}
        />
        of {count(frames)}
      </label>
      <span className="mono dim">{f ? `+${(f.t_us / 1e6).toFixed(3)} s` : ''}</span>
    </div>
  );
}

function Timeline() {
  const store = useAppStore();
  const info = useApp((s) => s.replay.info);
  const cursor = useApp((s) => s.replay.cursor);
  const theme = useDomTheme();
  const canvas = useRef<HTMLCanvasElement>(null);
  const frames = info?.frames ?? 0;

  // The statements, drawn once per size, session and theme (the cursor is the range's thumb).
  const draw = useCallback(() => {
    const c = canvas.current;
    if (!c || !info) return;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    const g = c.getContext('2d');
    if (!g) return;
    g.scale(dpr, dpr);
    const css = getComputedStyle(document.documentElement);
    const color = (v: string) => css.getPropertyValue(v).trim();
    g.fillStyle = color('--bg-sunken');
    g.fillRect(0, 0, w, h);
    const marks = info.marks;
    const n = marks.length / 4;
    const scale = w / Math.max(1, frames);
    const base = color('--accent');
    for (let i = 0; i < n; i++) {
      const m = markOf(marks, i);
      const x = (m.firstFrame - 1) * scale;
      const width = Math.max(1, (m.lastFrame - m.firstFrame + 1) * scale);
      const special = m.blocked || m.held || m.error || m.warn;
      g.globalAlpha = special ? 1 : 0.45;
      g.fillStyle =
        m.blocked || m.error ? color('--red') : m.held ? color('--violet') : m.warn ? color('--amber') : base;
      g.fillRect(x, special ? 2 : 8, width, special ? h - 4 : h - 16);
    }
    g.globalAlpha = 1;
  }, [info, frames]);

  useLayoutEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const ro = new ResizeObserver(() => draw());
    ro.observe(c);
    return () => ro.disconnect();
  }, [draw]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the colors follow the theme
  useEffect(() => draw(), [draw, theme]);

  // Scrubbing moves the cursor at once and reads the frames there when the hand rests.
  useEffect(() => {
    const t = setTimeout(() => void store.getState().ensureFrames(cursor - 100, cursor + 100), 60);
    return () => clearTimeout(t);
  }, [cursor, store]);

  if (!info || frames === 0) return null;
  return (
    <div className="timeline">
      <canvas ref={canvas} />
      <input
        type="range"
        min={1}
        max={frames}
        step={1}
        value={cursor}
        aria-label="Scrubber"
        aria-valuetext={`frame ${cursor} of ${frames}`}
        onChange={(e) => store.getState().seekFrame(Number(e.target.value), false)}
      />
    </div>
  );
}

function FrameList() {
  const store = useAppStore();
  const frames = useApp((s) => s.replay.info?.frames ?? 0);
  const cursor = useApp((s) => s.replay.cursor);
  useApp((s) => s.replay.version);
  const data = store.getState().replayData;
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  const onRange = useCallback(
    (first: number, last: number) => {
      if (pending.current) clearTimeout(pending.current);
      pending.current = setTimeout(() => void store.getState().ensureFrames(first + 1, last + 1), 40);
    },
    [store],
  );
  return (
    <section className="replay-frames" aria-label="Frames">
      <div className="frame-row frame-head" aria-hidden="true">
        <div>#</div>
        <div title="Milliseconds since the previous frame">+ms</div>
        <div />
        <div>Message</div>
        <div>Content</div>
      </div>
      <VirtualList
        count={frames}
        rowHeight={FRAME_ROW}
        follow={cursor - 1}
        onRange={onRange}
        label="Frame list"
        renderRow={(i, style) => {
          const seq = i + 1;
          const f = data.frames.get(seq);
          const prev = data.frames.get(seq - 1);
          return (
            // biome-ignore lint/a11y/useSemanticElements: rows of a virtualized grid
            <div
              key={seq}
              role="row"
              tabIndex={-1}
              aria-selected={seq === cursor}
              className={`vrow frame-row${f?.type === 'ErrorResponse' ? ' failed' : ''}`}
              style={style}
              onClick={() => store.getState().seekFrame(seq)}
              onKeyDown={() => {}}
            >
              <div className="dim mono">{seq}</div>
              <div className="dim mono" title={f ? `+${(f.t_us / 1e6).toFixed(6)} s` : undefined}>
                {f
                  ? prev
                    ? `+${((f.t_us - prev.t_us) / 1000).toFixed(2)}`
                    : (f.t_us / 1000).toFixed(2)
                  : ''}
              </div>
              <div className={`dir ${f?.dir ?? ''}`}>{f ? (f.dir === 'client' ? '→' : '←') : ''}</div>
              <div className="type">{f ? f.type : '…'}</div>
              <div className="sum mono">{f ? oneLine(frameSummary(f), 300) : ''}</div>
            </div>
          );
        }}
      />
    </section>
  );
}

function StatementList() {
  const store = useAppStore();
  const n = useApp((s) => (s.replay.info?.marks.length ?? 0) / 4);
  const cursor = useApp((s) => s.replay.cursor);
  useApp((s) => s.replay.version);
  const data = store.getState().replayData;
  const current = data.statementIndexAt(cursor);
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  const onRange = useCallback(
    (first: number, last: number) => {
      if (pending.current) clearTimeout(pending.current);
      pending.current = setTimeout(() => void store.getState().ensureStatements(first + 1, last + 1), 40);
    },
    [store],
  );
  if (n === 0) {
    return (
      <section className="replay-statements" aria-label="Statements">
        <div className="muted pad">No statements in this session.</div>
      </section>
    );
  }
  return (
    <section className="replay-statements" aria-label="Statements">
      <div className="section-head">
        Statements <span className="dim">({count(n)})</span>
      </div>
      <VirtualList
        count={n}
        rowHeight={STATEMENT_ROW}
        follow={current >= 0 ? current : null}
        onRange={onRange}
        label="Statement list"
        renderRow={(i, style) => {
          const m = markOf(data.marks, i);
          const st = data.statements.get(i + 1);
          const decision =
            st?.decision ?? (m.blocked ? 'block' : m.held ? 'review' : m.warn ? 'warn' : 'allow');
          return (
            // biome-ignore lint/a11y/useSemanticElements: rows of a virtualized grid
            <div
              key={m.seq}
              role="row"
              tabIndex={-1}
              aria-selected={i === current}
              className={`vrow st-row${m.error ? ' failed' : ''}${m.blocked ? ' blocked' : ''}`}
              style={style}
              onClick={() => store.getState().jumpToStatement(i)}
              onKeyDown={() => {}}
            >
              <div className="st-top">
                <span className="dim mono">#{m.seq}</span>
                <Pill kind={decision} />
                {st?.rule && <span className="rule mono">{st.rule}</span>}
                {st?.errorCode && <Pill kind="error">{st.errorCode}</Pill>}
                <span className="grow" />
                <span className="dim mono">{st ? duration(st.durationUs) : ''}</span>
              </div>
              <div className="sql">{st ? oneLine(st.sql, 200) : '…'}</div>
            </div>
          );
        }}
      />
    </section>
  );
}

function FramePanel() {
  const store = useAppStore();
  const cursor = useApp((s) => s.replay.cursor);
  const panel = useApp((s) => s.replay.panel);
  const bytes = useApp((s) => s.replay.bytes);
  const bytesError = useApp((s) => s.replay.bytesError);
  useApp((s) => s.replay.version);
  const data = store.getState().replayData;
  const f = data.frames.get(cursor);
  const prev = data.frames.get(cursor - 1);
  const index = data.statementIndexAt(cursor);
  const mark = index >= 0 ? markOf(data.marks, index) : null;
  const inside = mark !== null && cursor <= mark.lastFrame;
  const statement = inside ? data.statements.get(index + 1) : undefined;

  // The statement's frames (for its result grid), up to a page or two past its start.
  useEffect(() => {
    if (!mark || !inside) return;
    void store
      .getState()
      .ensureFrames(mark.firstFrame, Math.min(mark.lastFrame, mark.firstFrame + 2 * FRAME_PAGE));
  }, [mark?.firstFrame, mark?.lastFrame, inside, store, mark]);

  useEffect(() => {
    if (panel === 'bytes' && (!bytes || bytes.seq !== cursor)) {
      const t = setTimeout(() => void store.getState().loadFrameBytes(cursor), 50);
      return () => clearTimeout(t);
    }
  }, [panel, cursor, bytes, store]);

  const grid = mark && inside ? resultGrid(data.frames, mark.firstFrame, mark.lastFrame, cursor) : null;

  return (
    <section className="replay-detail" aria-label="Frame">
      <div className="detail-head">
        <h2>
          {f ? (
            <>
              <span className={`dir ${f.dir}`}>{f.dir === 'client' ? '→' : '←'}</span> {f.type}{' '}
              <span className="dim mono">#{f.seq}</span>
            </>
          ) : (
            `Frame ${cursor}`
          )}
        </h2>
        <div className="tabs" role="tablist" aria-label="Show">
          <button
            type="button"
            role="tab"
            aria-selected={panel === 'decoded'}
            onClick={() => store.getState().setReplayPanel('decoded')}
          >
            Decoded
          </button>
          <button
            type="button"
            role="tab"
            aria-selected={panel === 'bytes'}
            onClick={() => store.getState().setReplayPanel('bytes')}
          >
            Bytes
          </button>
        </div>
      </div>
      <div className="detail-body">
        {f && (
          <div className="frame-facts">
            <span>{f.dir === 'client' ? 'client → server' : 'server → client'}</span>
            <span>
              at <b className="mono">+{(f.t_us / 1e6).toFixed(6)} s</b>
            </span>
            {prev && (
              <span>
                <b className="mono">{duration(Math.max(0, f.t_us - prev.t_us))}</b> after the previous frame
              </span>
            )}
          </div>
        )}
        {panel === 'bytes' ? (
          <BytesView seq={cursor} />
        ) : f ? (
          <Decoded f={f} />
        ) : (
          <div className="muted">Reading frames…</div>
        )}
        {bytesError && panel === 'bytes' && <div className="errbox">{bytesError}</div>}
        {mark && inside && <StatementFacts index={index} statement={statement} />}
        {grid && <Grid grid={grid} />}
      </div>
    </section>
  );
}

function BytesView({ seq }: { seq: number }) {
  const bytes = useApp((s) => s.replay.bytes);
  if (!bytes || bytes.seq !== seq) return <div className="muted">Reading the bytes…</div>;
  return (
    <>
      <div className="section-title" style={{ display: 'flex', alignItems: 'center' }}>
        <span style={{ flex: 1 }}>
          {count(bytes.length)} bytes{bytes.truncated ? ` (first ${count(bytes.hex.length / 2)} shown)` : ''}
        </span>
        <CopyButton text={bytes.hex} label="Copy as hex" />
      </div>
      <section aria-label="Bytes">
        <pre className="hexdump mono">{hexDump(bytes.hex)}</pre>
      </section>
    </>
  );
}

function StatementFacts({ index, statement }: { index: number; statement: StatementRecord | undefined }) {
  const store = useAppStore();
  const data = store.getState().replayData;
  const m = markOf(data.marks, index);
  return (
    <section className="st-box" aria-label="Statement">
      <div className="st-top">
        <b>Statement #{m.seq}</b>
        {statement && <Pill kind={statement.decision} />}
        {statement?.rule && (
          <span>
            rule <code>{statement.rule}</code>
          </span>
        )}
        <span className="grow" />
        <span className="dim mono">
          frames {m.firstFrame}–{m.lastFrame}
        </span>
      </div>
      {statement ? (
        <>
          <div className="st-meta">
            {duration(statement.durationUs)} · {count(statement.rows)} rows · {statement.tag ?? 'no result'}
            {Object.keys(statement.masked).length > 0 &&
              ` · masked ${Object.entries(statement.masked)
                .map(([r, n]) => `${r}: ${n}`)
                .join(', ')}`}
          </div>
          {statement.errorCode && (
            <div className="errbox">
              <code>{statement.errorCode}</code>
              {statement.errorMessage}
            </div>
          )}
        </>
      ) : (
        <div className="muted">Reading the statement…</div>
      )}
    </section>
  );
}

function Grid({ grid }: { grid: ResultGrid }) {
  const ref = useRef<HTMLTableRowElement>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: follow the current row
  useEffect(() => {
    ref.current?.scrollIntoView({ block: 'nearest' });
  }, [grid.current]);
  return (
    <>
      <div className="section-title">
        Result as the client saw it · {count(grid.total)} row{grid.total === 1 ? '' : 's'} so far
        {grid.total > grid.rows.length ? ` (first ${count(grid.rows.length)} shown)` : ''}
        {!grid.complete ? ' · reading…' : ''}
      </div>
      <div className="grid-wrap">
        <table className="tbl result-grid" aria-label="Result grid">
          <thead>
            <tr>
              <th className="num">#</th>
              {grid.columns.map((c, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: columns are positional
                <th key={i}>{c}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {grid.rows.map((r, i) => (
              <tr key={r.seq} ref={i === grid.current ? ref : undefined} aria-selected={i === grid.current}>
                <td className="num dim">{i + 1}</td>
                {grid.columns.map((_, j) => {
                  const v = r.values[j];
                  return (
                    // biome-ignore lint/suspicious/noArrayIndexKey: columns are positional
                    <td key={j} className={v === null ? 'dim' : undefined}>
                      {v === null || v === undefined ? 'NULL' : v}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function KV({ rows }: { rows: [string, React.ReactNode][] }) {
  return (
    <dl className="kv">{rows.map(([k, v]) => [<dt key={`${k}-k`}>{k}</dt>, <dd key={`${k}-v`}>{v}</dd>])}</dl>
  );
}

const ERROR_FIELDS = [
  'severity',
  'code',
  'message',
  'detail',
  'hint',
  'position',
  'where',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'internalQuery',
  'internalPosition',
  'file',
  'line',
  'routine',
];

function Decoded({ f }: { f: FrameView }) {
  const d = f.decoded as Record<string, unknown>;
  const sqlBox = (sql: string) => (
    <>
      <div className="section-title" style={{ display: 'flex', alignItems: 'center' }}>
        <span style={{ flex: 1 }}>SQL</span>
        <CopyButton text={sql} label="Copy the SQL" />
      </div>
      <pre className="sqlbox mono">{highlightSql(sql)}</pre>
    </>
  );
  if (d.malformed)
    return (
      <div className="errbox">
        This frame does not parse as a {f.type} ({String(d.length)} bytes).
      </div>
    );
  switch (f.type) {
    case 'Query':
      return sqlBox(String(d.sql ?? ''));
    case 'Parse':
      return (
        <>
          <KV
            rows={[
              ['Statement', name(d.name)],
              [
                'Parameter types',
                (d.paramTypes as number[] | undefined)?.length
                  ? (d.paramTypes as number[]).join(', ')
                  : 'inferred',
              ],
            ]}
          />
          {sqlBox(String(d.sql ?? ''))}
        </>
      );
    case 'Bind': {
      const params = (d.params ?? []) as (string | null)[];
      return (
        <>
          <KV
            rows={[
              ['Portal', name(d.portal)],
              ['Statement', name(d.statement)],
              ['Parameter formats', formats(d.paramFormats)],
              ['Result formats', formats(d.resultFormats)],
            ]}
          />
          <div className="section-title">Parameters</div>
          {params.length === 0 ? (
            <div className="muted">None</div>
          ) : (
            <table className="tbl compact" aria-label="Parameters">
              <tbody>
                {params.map((p, i) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: parameters are positional
                  <tr key={i}>
                    <td className="mono dim">${i + 1}</td>
                    <td className="mono">{p === null ? <span className="dim">NULL</span> : p}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      );
    }
    case 'RowDescription': {
      const fields = (d.fields ?? []) as Record<string, unknown>[];
      return (
        <table className="tbl compact" aria-label="Columns">
          <thead>
            <tr>
              <th>Column</th>
              <th className="num">Table OID</th>
              <th className="num">Attr</th>
              <th className="num">Type OID</th>
              <th className="num">Size</th>
              <th>Format</th>
            </tr>
          </thead>
          <tbody>
            {fields.map((x, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: columns are positional
              <tr key={i}>
                <td className="mono">{String(x.name)}</td>
                <td className="num">{String(x.tableOid)}</td>
                <td className="num">{String(x.columnAttr)}</td>
                <td className="num">{String(x.typeOid)}</td>
                <td className="num">{String(x.typeSize)}</td>
                <td>{x.format === 1 ? 'binary' : 'text'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      );
    }
    case 'DataRow': {
      const values = (d.values ?? []) as (string | null)[];
      return (
        <>
          <div className="section-title">Values (as sent to the client)</div>
          <table className="tbl compact" aria-label="Row values">
            <tbody>
              {values.map((v, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: values are positional
                <tr key={i}>
                  <td className="mono dim">{i + 1}</td>
                  <td className="mono">{v === null ? <span className="dim">NULL</span> : v}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      );
    }
    case 'CommandComplete':
      return <KV rows={[['Command tag', <code key="t">{String(d.tag)}</code>]]} />;
    case 'ErrorResponse':
    case 'NoticeResponse': {
      const keys = [
        ...ERROR_FIELDS.filter((k) => k in d),
        ...Object.keys(d).filter((k) => !ERROR_FIELDS.includes(k)),
      ];
      return (
        <div className={f.type === 'ErrorResponse' ? 'err-fields' : undefined}>
          <KV
            rows={keys.map((k) => [
              k,
              <span key={k} className={k === 'message' ? 'strong' : 'mono'}>
                {String(d[k])}
              </span>,
            ])}
          />
        </div>
      );
    }
    case 'CopyData':
      return typeof d.text === 'string' ? (
        <>
          <div className="section-title">{count(Number(d.length))} bytes of COPY data</div>
          <pre className="sqlbox mono">{d.text}</pre>
        </>
      ) : (
        <>
          <div className="section-title">
            {count(Number(d.length))} bytes of binary COPY data{d.truncated ? ' (first 256 shown)' : ''}
          </div>
          <pre className="hexdump mono">{hexDump(String(d.hex ?? ''))}</pre>
        </>
      );
    case 'StartupMessage':
      return (
        <KV
          rows={[
            ['Protocol', String(d.protocol ?? '')],
            ...Object.entries((d.parameters ?? {}) as Record<string, string>).map(
              ([k, v]): [string, React.ReactNode] => [k, <code key={k}>{v}</code>],
            ),
          ]}
        />
      );
    default: {
      const entries = Object.entries(d);
      if (entries.length === 0) return <div className="muted">No content: the message type says it all.</div>;
      return (
        <KV
          rows={entries.map(([k, v]) => [
            k,
            <code key={k}>{typeof v === 'string' ? v : JSON.stringify(v)}</code>,
          ])}
        />
      );
    }
  }
}

/** A prepared statement's or portal's name ('' = the unnamed one). */
function name(v: unknown): React.ReactNode {
  return v ? (
    <code key="name">{String(v)}</code>
  ) : (
    <span key="name" className="dim">
      unnamed
    </span>
  );
}

function formats(v: unknown): string {
  const a = (v ?? []) as number[];
  if (a.length === 0) return 'all text';
  if (a.length === 1) return `all ${a[0] === 1 ? 'binary' : 'text'}`;
  return a.map((x) => (x === 1 ? 'binary' : 'text')).join(', ');
}
