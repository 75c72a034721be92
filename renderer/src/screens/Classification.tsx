// Data classification: the columns automatic classification found to hold PII on each
// connection (the detector, the share of sampled values it matched), masked by `auto-<detector>`
// column rules in the policies that classify. The operator accepts a column, changes its
// strategy, or excludes it (its auto rule goes; the detectors still run on its values).

import { useEffect } from 'react';
import type { ClassifiedColumn } from '../../../shared/api.js';
import { Shield } from '../components/icons.js';
import { Empty, Pill } from '../components/ui.js';
import { useApp, useAppStore } from '../context.js';
import { dateTime } from '../lib/format.js';

const STRATEGIES = ['partial', 'hash', 'redact', 'null'] as const;

const STATE_PILL: Record<ClassifiedColumn['state'], string> = {
  auto: 'review',
  accepted: 'allow',
  changed: 'allow',
  excluded: 'block',
};

export function Classification() {
  const store = useAppStore();
  const c = useApp((s) => s.classification);
  useEffect(() => {
    void store.getState().loadClassifications();
  }, [store]);
  const views = Object.values(c.byConnection);

  return (
    <div className="page">
      <header className="page-head">
        <h1>Data classification</h1>
        <span className="sub">
          Columns whose sampled values are mostly PII: every transformation of them is masked
        </span>
      </header>
      <div className="page-body">
        {c.error && (
          <div className="errbox" role="alert">
            {c.error}
          </div>
        )}
        {views.length === 0 && !c.loading && (
          <Empty icon={<Shield />} title="No connections">
            Add a connection; its tables are classified when the first client connects.
          </Empty>
        )}
        {views.map((v) => (
          <section key={v.connection} className="form-card" aria-label={`Classification of ${v.connection}`}>
            <h2>{v.connection}</h2>
            <div className="toolbar">
              <button
                type="button"
                className="btn"
                disabled={c.busy === v.connection || v.running}
                onClick={() => void store.getState().runClassification(v.connection)}
              >
                {c.busy === v.connection || v.running ? 'Classifying…' : 'Classify now'}
              </button>
              <span className="muted">
                {v.lastRun ? `Last run ${dateTime(v.lastRun * 1000)}` : 'Not run since the gateway started'}
                {v.error ? ` · failed: ${v.error}` : ''}
              </span>
            </div>
            {v.columns.length === 0 ? (
              <p className="muted">No column found to hold PII.</p>
            ) : (
              <table className="tbl" aria-label={`Classified columns of ${v.connection}`}>
                <thead>
                  <tr>
                    <th>Column</th>
                    <th>Detector</th>
                    <th>Matched</th>
                    <th>State</th>
                    <th>Strategy</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {v.columns.map((col) => (
                    <Row key={`${col.schema}.${col.table}.${col.column}`} col={col} />
                  ))}
                </tbody>
              </table>
            )}
          </section>
        ))}
      </div>
    </div>
  );
}

function Row({ col }: { col: ClassifiedColumn }) {
  const store = useAppStore();
  const name = `${col.schema}.${col.table}.${col.column}`;
  const busy = useApp((s) => s.classification.busy === `${col.connection}\0${name}`);
  const decide = (d: Parameters<ReturnType<typeof store.getState>['decideClassification']>[2]) =>
    void store.getState().decideClassification(col.connection, col, d);
  return (
    <tr data-column={name}>
      <td className="mono">{name}</td>
      <td>{col.detector}</td>
      <td title={`${col.sampled} non-null values sampled`}>{Math.round(col.share * 100)}%</td>
      <td>
        <Pill kind={STATE_PILL[col.state]}>{col.state}</Pill>
      </td>
      <td>
        <select
          className="select"
          aria-label={`Strategy of ${name}`}
          disabled={busy || col.state === 'excluded'}
          value={col.strategy ?? ''}
          onChange={(e) =>
            decide(e.target.value ? { strategy: e.target.value as (typeof STRATEGIES)[number] } : 'auto')
          }
        >
          <option value="">policy default</option>
          {STRATEGIES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </td>
      <td className="row-actions">
        {col.state !== 'accepted' && col.state !== 'changed' && (
          <button type="button" className="btn" disabled={busy} onClick={() => decide('accept')}>
            Accept
          </button>
        )}
        {col.state === 'excluded' ? (
          <button type="button" className="btn" disabled={busy} onClick={() => decide('auto')}>
            Mask again
          </button>
        ) : (
          <button
            type="button"
            className="btn danger"
            disabled={busy}
            aria-label={`Exclude ${name}`}
            onClick={() => decide('exclude')}
          >
            Exclude
          </button>
        )}
      </td>
    </tr>
  );
}
