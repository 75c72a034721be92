// Reports: an audit report over the store (the same as `bastion report`), for a period, an
// identity and a connection, as PDF, HTML, CSV or JSON. The core builds it; the file is saved by
// the browser's download (or the desktop app's save dialog).

import type { ReportFile, ReportFileFormat } from '../../../shared/api.js';
import { Download, FileText } from '../components/icons.js';
import { Pill } from '../components/ui.js';
import { useApp, useAppStore } from '../context.js';
import { count, dateTime } from '../lib/format.js';

const FORMATS: { id: ReportFileFormat; label: string; what: string }[] = [
  { id: 'pdf', label: 'PDF', what: 'For people: summary, decisions, approvals, errors, every session' },
  { id: 'html', label: 'HTML', what: 'The same, as one self-contained page' },
  { id: 'csv', label: 'CSV', what: 'One row per statement, for spreadsheets' },
  { id: 'json', label: 'JSON', what: 'Everything, for tools; carries its own digest' },
];

/** Saves a file the core returned: a download in a browser and in the desktop app. */
export function saveFile(file: ReportFile): void {
  const bin = atob(file.base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const url = URL.createObjectURL(new Blob([bytes], { type: file.mime }));
  const a = document.createElement('a');
  a.href = url;
  a.download = file.fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function Reports() {
  const store = useAppStore();
  const r = useApp((s) => s.reports);
  const identities = useApp((s) => s.conn.identities);
  const connections = useApp((s) => s.conn.list);
  const o = r.options;
  const set = (p: Partial<typeof o>) => store.getState().setReportOptions(p);

  const run = async () => {
    const file = await store.getState().exportReport();
    if (file) {
      saveFile(file);
      store.getState().toast('success', `Saved ${file.fileName}`);
    }
  };

  return (
    <div className="page">
      <header className="page-head">
        <h1>Reports</h1>
        <span className="sub">Audit reports over everything recorded, with the store's integrity check</span>
      </header>
      <div className="page-body">
        <div className="report-form">
          <section className="form-card" aria-label="Scope">
            <h2>Scope</h2>
            <div className="form-grid">
              <label>
                <span>From</span>
                <input
                  className="input"
                  type="datetime-local"
                  aria-label="From"
                  value={o.since}
                  onChange={(e) => set({ since: e.target.value })}
                />
              </label>
              <label>
                <span>Until</span>
                <input
                  className="input"
                  type="datetime-local"
                  aria-label="Until"
                  value={o.until}
                  onChange={(e) => set({ until: e.target.value })}
                />
              </label>
              <label>
                <span>Identity</span>
                <select
                  className="select"
                  aria-label="Identity"
                  value={o.identity}
                  onChange={(e) => set({ identity: e.target.value })}
                >
                  <option value="">All identities</option>
                  {identities.map((i) => (
                    <option key={i.name} value={i.name}>
                      {i.name}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                <span>Connection</span>
                <select
                  className="select"
                  aria-label="Connection"
                  value={o.connection}
                  onChange={(e) => set({ connection: e.target.value })}
                >
                  <option value="">All connections</option>
                  {connections.map((c) => (
                    <option key={c.name} value={c.name}>
                      {c.name}
                    </option>
                  ))}
                </select>
              </label>
            </div>
            <p className="muted">
              Empty fields cover everything: the whole store, every identity and connection.
            </p>
          </section>
          <section className="form-card" aria-label="Format">
            <h2>Format</h2>
            <div className="format-list" role="radiogroup" aria-label="Format">
              {FORMATS.map((f) => (
                <label key={f.id} className={`format${o.format === f.id ? ' on' : ''}`}>
                  <input
                    type="radio"
                    name="format"
                    value={f.id}
                    checked={o.format === f.id}
                    onChange={() => set({ format: f.id })}
                  />
                  <b>{f.label}</b>
                  <span className="muted">{f.what}</span>
                </label>
              ))}
            </div>
            <div className="toolbar">
              <button
                type="button"
                className="btn primary big"
                disabled={r.running}
                onClick={() => void run()}
              >
                <Download size={15} />{' '}
                {r.running ? 'Building the report…' : `Export ${o.format.toUpperCase()}`}
              </button>
            </div>
            {r.error && <div className="errbox">{r.error}</div>}
          </section>
          {r.last && (
            <section className="form-card" aria-label="Last report">
              <h2>
                <FileText size={15} /> {r.last.fileName}
              </h2>
              <div className="facts">
                <Fact k="Sessions" v={count(r.last.summary.sessions)} />
                <Fact k="Statements" v={count(r.last.summary.statements)} />
                <Fact k="Blocked" v={count(r.last.summary.blocked)} />
                <Fact k="Held" v={count(r.last.summary.held)} />
                <Fact k="Errors" v={count(r.last.summary.errors)} />
                <Fact k="Masked values" v={count(r.last.summary.masked)} />
                <Fact k="Size" v={`${count(r.last.bytes)} bytes`} />
                <Fact k="Built" v={dateTime(r.last.at * 1000)} />
              </div>
              <p>
                Store integrity:{' '}
                {r.last.summary.verified ? (
                  <Pill kind="allow">verified</Pill>
                ) : (
                  <Pill kind="block">failed</Pill>
                )}
              </p>
              <p className="muted mono small-print">digest {r.last.summary.digest}</p>
            </section>
          )}
        </div>
      </div>
    </div>
  );
}

function Fact({ k, v }: { k: string; v: string }) {
  return (
    <div className="fact">
      <div className="k">{k}</div>
      <div className="v">{v}</div>
    </div>
  );
}
