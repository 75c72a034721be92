// HTML: one self-contained, printable page. No scripts, no external resources (a CSP forbids
// them), every value escaped. Print CSS: A4 landscape, repeated table headers, page numbers.

import {
  count,
  DIGEST_DEFINITION,
  durationMs,
  filterText,
  humanTime,
  isoUs,
  periodText,
  timeOfDay,
} from './format.js';
import type { AuditReport, ReportStatement, StatementRef } from './types.js';

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const e = (v: string | number | null | undefined) =>
  escapeHtml(v === null || v === undefined ? '' : String(v));

const STYLE = `
:root { --ink: #1d2433; --muted: #5b6475; --rule: #d8dce3; --band: #f3f5f8; --accent: #1f3a5f;
  --ok: #1d7a46; --bad: #b42318; --warn: #a15c00; }
* { box-sizing: border-box; }
html { font: 10pt/1.4 "Helvetica Neue", Helvetica, Arial, "Liberation Sans", sans-serif; color: var(--ink); }
body { margin: 0 auto; max-width: 1180px; padding: 24px 28px 40px; }
h1 { font-size: 22pt; margin: 0 0 4px; color: var(--accent); letter-spacing: -0.01em; }
h2 { font-size: 13pt; margin: 26px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--accent);
  color: var(--accent); break-after: avoid; }
h3 { font-size: 10.5pt; margin: 0; }
code, pre, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace; font-size: 8.5pt; }
.brand { font-size: 8.5pt; letter-spacing: .25em; color: var(--muted); font-weight: 700; }
header.cover { border-bottom: 1px solid var(--rule); padding-bottom: 12px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 10px 0 0; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; }
.integrity { margin-top: 16px; padding: 10px 14px; border: 1px solid var(--rule); border-left: 5px solid var(--ok);
  background: #f4faf6; break-inside: avoid; }
.integrity.bad { border-left-color: var(--bad); background: #fdf3f2; }
.integrity .verdict { font-weight: 700; font-size: 11pt; margin: 0 0 6px; }
.integrity.ok .verdict { color: var(--ok); } .integrity.bad .verdict { color: var(--bad); }
.integrity code { word-break: break-all; }
.note { color: var(--muted); font-size: 8.5pt; margin: 6px 0 0; }
.cards { display: grid; grid-template-columns: repeat(6, 1fr); gap: 10px; margin: 6px 0 14px; }
.card { border: 1px solid var(--rule); border-radius: 4px; padding: 8px 10px; background: var(--band); break-inside: avoid; }
.card .n { font-size: 17pt; font-weight: 700; } .card .l { color: var(--muted); font-size: 8.5pt; }
.card.alert .n { color: var(--bad); }
.grid2 { display: grid; grid-template-columns: repeat(3, 1fr); gap: 14px; align-items: start; }
table { width: 100%; border-collapse: collapse; margin: 4px 0 10px; font-size: 8.5pt; }
thead { display: table-header-group; }
th { text-align: left; background: var(--accent); color: #fff; font-weight: 600; padding: 4px 6px; white-space: nowrap; }
td { padding: 3px 6px; border-bottom: 1px solid var(--rule); vertical-align: top; }
tbody tr:nth-child(even) td { background: #f8f9fb; }
tr { break-inside: avoid; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.sql { width: 46%; }
td.sql pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
td.sql .params { color: var(--muted); margin-top: 2px; }
.d-block { color: var(--bad); font-weight: 700; } .d-review { color: var(--warn); font-weight: 700; }
.d-warn { color: var(--warn); } .d-allow { color: var(--ok); }
.err { color: var(--bad); }
.empty { color: var(--muted); font-style: italic; margin: 4px 0 10px; }
article.session { margin: 14px 0 18px; }
.session-head { background: var(--band); border: 1px solid var(--rule); border-bottom: none; padding: 6px 8px;
  break-after: avoid; }
.session-head .sub { color: var(--muted); font-size: 8.5pt; margin-top: 2px; }
footer { margin-top: 28px; padding-top: 8px; border-top: 1px solid var(--rule); color: var(--muted); font-size: 8.5pt; }
footer code { word-break: break-all; }
@page { size: A4 landscape; margin: 14mm 12mm 16mm;
  @bottom-left { content: "Bastion audit report"; font: 7.5pt sans-serif; color: #5b6475; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font: 7.5pt sans-serif; color: #5b6475; } }
@media print {
  html { font-size: 8.5pt; } body { max-width: none; padding: 0; }
  .cards { gap: 6px; } h2 { margin-top: 16px; }
  section.sessions { break-before: page; }
  a { color: inherit; text-decoration: none; }
}
`;

function decisionCell(d: string, rule: string | null): string {
  return `<span class="d-${e(d)}">${e(d)}</span>${rule ? ` <span class="mono">${e(rule)}</span>` : ''}`;
}

function sqlCell(sql: string, params: (string | null)[] | null = null): string {
  const p = params === null ? '' : `<div class="params mono">params ${e(JSON.stringify(params))}</div>`;
  return `<td class="sql"><pre>${e(sql)}</pre>${p}</td>`;
}

function table(headers: [string, string?][], rows: string[]): string {
  const head = headers.map(([h, cls]) => `<th${cls ? ` class="${cls}"` : ''}>${e(h)}</th>`).join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${rows.join('\n')}</tbody></table>`;
}

function kv(entries: Record<string, number>, label: string, total: number): string {
  const rows = Object.entries(entries).map(
    ([k, n]) =>
      `<tr><td>${e(k)}</td><td class="num">${count(n)}</td><td class="num">${total ? ((100 * n) / total).toFixed(1) : '0.0'}%</td></tr>`,
  );
  if (rows.length === 0) return `<p class="empty">None.</p>`;
  return table([[label], ['Count', 'num'], ['Share', 'num']], rows);
}

const sessionRef = (r: { sessionId: string; seq: number | null }) =>
  r.seq === null
    ? `<span class="mono">${e(r.sessionId.slice(0, 8))}</span>&nbsp;<span class="empty">no statement</span>`
    : `<span class="mono">${e(r.sessionId.slice(0, 8))}</span>&nbsp;#${e(r.seq)}`;

function refRows(list: StatementRef[], extra: (r: StatementRef) => string = () => ''): string[] {
  return list.map(
    (r) =>
      `<tr><td class="mono">${e(isoUs(r.startedAt))}</td><td>${e(r.identity)}</td><td>${e(r.connection)}</td>` +
      `<td>${sessionRef(r)}</td><td>${e(r.kind)}</td><td>${r.rule ? `<span class="mono">${e(r.rule)}</span>` : '-'}</td>` +
      `${extra(r)}${sqlCell(r.sql)}</tr>`,
  );
}

function statementRow(st: ReportStatement): string {
  const result = st.errorCode
    ? `<span class="err">ERROR ${e(st.errorCode)}</span>${st.errorMessage ? `<br>${e(st.errorMessage)}` : ''}`
    : e(st.tag ?? '-');
  const approval = st.approval
    ? `<br><span class="mono">${e(st.approval.outcome)}${st.approval.approver ? ` by ${e(st.approval.approver)}` : ''}</span>`
    : '';
  return (
    `<tr><td class="num">${e(st.seq)}</td><td class="mono">${e(timeOfDay(st.startedAt))}</td><td>${e(st.kind)}</td>` +
    `<td>${decisionCell(st.decision, st.rule)}${approval}</td><td class="num">${e(durationMs(st.durationUs))}</td>` +
    `<td class="num">${count(st.rows)}${st.truncated ? '+' : ''}</td><td>${result}</td>` +
    `<td class="num">${st.maskedTotal ? count(st.maskedTotal) : ''}</td>${sqlCell(st.sql, st.params)}</tr>`
  );
}

export function toHtml(report: AuditReport): string {
  const r = report;
  const s = r.summary;
  const i = r.integrity;
  const period = periodText(r.filter.since, r.filter.until);
  const out: string[] = [];
  out.push(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${e(r.generator)}">
<meta name="report-digest" content="${e(r.digest)}">
<title>Bastion audit report: ${e(period)}</title>
<style>${STYLE}</style></head><body>`);

  out.push(`<header class="cover"><div class="brand">BASTION</div><h1>Audit report</h1>
<dl class="meta"><dt>Period</dt><dd>${e(period)}</dd>
<dt>Scope</dt><dd>${e(filterText(r.filter))}</dd>
<dt>Generated</dt><dd>${e(r.generatedAtIso)} by ${e(r.generator)}</dd>
${r.source ? `<dt>Store</dt><dd class="mono">${e(r.source)}</dd>` : ''}
<dt>Statements</dt><dd>${s.firstStatementAt === null ? 'none in the period' : `${e(humanTime(s.firstStatementAt))} to ${e(humanTime(s.lastStatementAt))}`}</dd></dl>
</header>`);

  out.push(`<section class="integrity ${i.verified ? 'ok' : 'bad'}" id="integrity"><p class="verdict">${
    i.verified
      ? `Store chain verified: ${count(i.records)} records intact`
      : `Store chain FAILED verification at record ${e(i.firstBad?.id)}: ${e(i.firstBad?.reason)}`
  }</p>
<dl class="meta"><dt>Chain head</dt><dd><code id="chain-head">${e(i.chainHead ?? '(empty store)')}</code></dd>
<dt>Report digest</dt><dd><code id="report-digest">${e(r.digest)}</code></dd></dl>
<p class="note">Chain head: SHA-256 of the last record of the store's append-only chain when the report was built${
    i.verified ? '' : ' (the last record that verified)'
  }. Report digest: ${e(DIGEST_DEFINITION)}</p></section>`);

  const card = (n: number, l: string, alert = false) =>
    `<div class="card${alert && n > 0 ? ' alert' : ''}"><div class="n">${count(n)}</div><div class="l">${e(l)}</div></div>`;
  out.push(`<section id="summary"><h2>Summary</h2><div class="cards">
${card(s.sessions, 'Sessions')}${card(s.statements, 'Statements')}${card(s.blocked, 'Blocked', true)}
${card(s.held, 'Held for review', true)}${card(s.masked, 'Masked values')}${card(s.errors, 'Errors', true)}</div>
<div class="grid2"><div><h3>Statements by kind</h3>${kv(s.byKind, 'Kind', s.statements)}</div>
<div><h3>Decisions</h3>${kv(s.byDecision, 'Decision', s.statements)}</div>
<div><h3>Errors by SQLSTATE</h3>${kv(s.errorsByCode, 'SQLSTATE', s.errors)}</div></div>
<h3>Activity by identity and connection</h3>${
    s.activity.length
      ? table(
          [
            ['Identity'],
            ['Connection'],
            ['Sessions', 'num'],
            ['Statements', 'num'],
            ['Blocked', 'num'],
            ['Held', 'num'],
            ['Errors', 'num'],
            ['Rows', 'num'],
            ['Masked', 'num'],
          ],
          s.activity.map(
            (a) =>
              `<tr><td>${e(a.identity)}</td><td>${e(a.connection)}</td><td class="num">${count(a.sessions)}</td>` +
              `<td class="num">${count(a.statements)}</td><td class="num">${count(a.blocked)}</td><td class="num">${count(a.held)}</td>` +
              `<td class="num">${count(a.errors)}</td><td class="num">${count(a.rows)}</td><td class="num">${count(a.masked)}</td></tr>`,
          ),
        )
      : '<p class="empty">No sessions in the period.</p>'
  }</section>`);

  const refHead: [string, string?][] = [
    ['Time (UTC)'],
    ['Identity'],
    ['Connection'],
    ['Statement'],
    ['Kind'],
    ['Rule'],
  ];
  out.push(
    `<section id="blocked"><h2>Blocked statements (${count(r.blocked.length)})</h2>${
      r.blocked.length
        ? table([...refHead, ['SQL']], refRows(r.blocked))
        : '<p class="empty">No statement was blocked.</p>'
    }</section>`,
  );

  const heldBy = new Map(r.held.map((h) => [`${h.sessionId}\0${h.seq}`, h]));
  const heldOutcome = (h: StatementRef) => {
    const x = heldBy.get(`${h.sessionId}\0${h.seq}`)!;
    return (
      `<td>${x.outcome === null ? '<span class="empty">not recorded</span>' : e(x.outcome)}</td>` +
      `<td>${e(x.approver ?? '-')}</td><td class="mono">${x.decidedAt === null ? '-' : e(isoUs(x.decidedAt))}</td>`
    );
  };
  out.push(
    `<section id="held"><h2>Held for review (${count(r.held.length)})</h2>${
      r.held.length
        ? table(
            [...refHead, ['Outcome'], ['Approver'], ['Decided (UTC)'], ['SQL']],
            refRows(r.held, heldOutcome),
          )
        : '<p class="empty">No statement was held for review.</p>'
    }${
      r.approvals.recorded
        ? ''
        : '<p class="note">This store does not record approval decisions yet: outcomes and approvers of held statements are shown as not recorded.</p>'
    }</section>`,
  );
  if (r.approvals.recorded && r.approvals.entries.length) {
    out.push(
      `<section id="approvals"><h2>Approvals (${count(r.approvals.entries.length)})</h2>${table(
        [['Requested (UTC)'], ['Statement'], ['Outcome'], ['Approver'], ['Decided (UTC)'], ['Reason']],
        r.approvals.entries.map(
          (a) =>
            `<tr><td class="mono">${e(isoUs(a.requestedAt))}</td><td>${sessionRef({ sessionId: a.sessionId, seq: a.statementSeq })}</td>` +
            `<td>${e(a.outcome)}</td><td>${e(a.approver ?? '-')}</td><td class="mono">${a.decidedAt === null ? '-' : e(isoUs(a.decidedAt))}</td><td>${e(a.reason ?? '')}</td></tr>`,
        ),
      )}</section>`,
    );
  }

  out.push(
    `<section id="masking"><h2>Masking (${count(s.masked)} values)</h2>${
      r.masking.length
        ? table(
            [['Rule'], ['Values masked', 'num'], ['Statements', 'num']],
            r.masking.map(
              (m) =>
                `<tr><td class="mono">${e(m.rule)}</td><td class="num">${count(m.values)}</td><td class="num">${count(m.statements)}</td></tr>`,
            ),
          )
        : '<p class="empty">No value was masked.</p>'
    }</section>`,
  );

  out.push(
    `<section id="errors"><h2>Errors (${count(r.errors.length)})</h2>${
      r.errors.length
        ? table(
            [['Time (UTC)'], ['Identity'], ['Connection'], ['Statement'], ['SQLSTATE'], ['Message'], ['SQL']],
            r.errors.map(
              (x) =>
                `<tr><td class="mono">${e(isoUs(x.startedAt))}</td><td>${e(x.identity)}</td><td>${e(x.connection)}</td>` +
                `<td>${sessionRef(x)}</td><td class="mono err">${e(x.errorCode)}</td><td>${e(x.errorMessage ?? '')}</td>${sqlCell(x.sql)}</tr>`,
            ),
          )
        : '<p class="empty">No statement failed.</p>'
    }</section>`,
  );

  out.push(
    `<section id="retention"><h2>Retention</h2>${
      r.retention.length
        ? table(
            [
              ['Pruned at (UTC)'],
              ['Record', 'num'],
              ['Connection'],
              ['Ended before (UTC)'],
              ['Sessions removed', 'num'],
              ['Records removed', 'num'],
            ],
            r.retention.map(
              (p) =>
                `<tr><td class="mono">${e(isoUs(p.at))}</td><td class="num">${e(p.recordId)}</td><td>${e(p.connection ?? 'all')}</td>` +
                `<td class="mono">${e(isoUs(p.before))}</td><td class="num">${count(p.sessions.length)}</td><td class="num">${count(p.records)}</td></tr>`,
            ),
          )
        : '<p class="empty">No session of this scope was removed by retention.</p>'
    }</section>`,
  );

  out.push(`<section class="sessions" id="sessions"><h2>Sessions (${count(r.sessions.length)})</h2>`);
  if (r.sessions.length === 0) out.push('<p class="empty">No sessions in the period.</p>');
  for (const { session: x, statements } of r.sessions) {
    out.push(`<article class="session" id="session-${e(x.id)}"><div class="session-head">
<h3><span class="mono">${e(x.id)}</span> &middot; ${e(x.identity)} on ${e(x.connection)}</h3>
<div class="sub">client ${e(x.clientAddress)} &middot; ${e(x.authMethod)}${x.tls ? ' &middot; TLS' : ' &middot; no TLS'} &middot; protocol ${e(x.protocol)}${
      x.applicationName ? ` &middot; application ${e(x.applicationName)}` : ''
    }${x.database ? ` &middot; database ${e(x.database)}` : ''}<br>started ${e(humanTime(x.startedAt))} &middot; ${
      x.endedAt === null
        ? 'still open'
        : `ended ${e(humanTime(x.endedAt))}${x.endReason ? ` (${e(x.endReason)})` : ''}`
    } &middot; ${count(x.statements)} statements recorded, ${count(statements.length)} in the period</div></div>
${
  statements.length
    ? table(
        [
          ['#', 'num'],
          ['Time (UTC)'],
          ['Kind'],
          ['Decision'],
          ['ms', 'num'],
          ['Rows', 'num'],
          ['Result'],
          ['Masked', 'num'],
          ['SQL'],
        ],
        statements.map(statementRow),
      )
    : '<p class="empty">No statements in the period.</p>'
}</article>`);
  }
  out.push('</section>');

  out.push(`<footer>Report digest <code>${e(r.digest)}</code> &middot; chain head <code>${e(
    i.chainHead ?? '(empty store)',
  )}</code> &middot; ${i.verified ? 'store verified' : 'store FAILED verification'} &middot; generated ${e(r.generatedAtIso)}</footer>
</body></html>
`);
  return out.join('\n');
}
