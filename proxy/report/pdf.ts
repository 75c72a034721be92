// PDF (pdfkit): A4 landscape, real text (selectable, searchable), a running footer with the
// report digest and "Page N of M", an outline, tables that break across pages with their header
// repeated, long SQL wrapped, and rows taller than what is left of a page split across pages
// line by line. Statement text past 20,000 characters is cut with a note (the JSON and CSV
// formats keep every character).
//
// Fonts: a Unicode TrueType family when one is installed (Liberation Sans / DejaVu, Arial on
// macOS and Windows), embedded as a subset; else the PDF standard Helvetica and Courier, where
// characters outside Windows-1252 print as "?".

import { existsSync } from 'node:fs';
import PDFDocument from 'pdfkit';
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
import type { AuditReport, ReportStatement } from './types.js';

export interface PdfFonts {
  sans: string;
  bold: string;
  mono: string;
}

export interface PdfOptions {
  /** TrueType font files to use; false forces the standard PDF fonts. Default: found on the system. */
  fonts?: PdfFonts | false;
}

const FONT_CANDIDATES: PdfFonts[] = [
  {
    sans: '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf',
    bold: '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf',
    mono: '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf',
  },
  {
    sans: '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
    bold: '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
    mono: '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf',
  },
  {
    sans: '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf',
    bold: '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf',
    mono: '/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf',
  },
  {
    sans: '/System/Library/Fonts/Supplemental/Arial.ttf',
    bold: '/System/Library/Fonts/Supplemental/Arial Bold.ttf',
    mono: '/System/Library/Fonts/Supplemental/Courier New.ttf',
  },
  {
    sans: 'C:\\Windows\\Fonts\\arial.ttf',
    bold: 'C:\\Windows\\Fonts\\arialbd.ttf',
    mono: 'C:\\Windows\\Fonts\\cour.ttf',
  },
];

/** The first complete TrueType family installed, or null. */
export function findPdfFonts(): PdfFonts | null {
  return FONT_CANDIDATES.find((f) => existsSync(f.sans) && existsSync(f.bold) && existsSync(f.mono)) ?? null;
}

const C = {
  ink: '#1d2433',
  muted: '#5b6475',
  rule: '#d8dce3',
  band: '#f3f5f8',
  zebra: '#f8f9fb',
  accent: '#1f3a5f',
  ok: '#1d7a46',
  okBg: '#eef7f1',
  bad: '#b42318',
  badBg: '#fdf0ef',
  warn: '#a15c00',
};

type FontName = 'sans' | 'bold' | 'mono';

interface Col {
  header: string;
  /** Points; 0 = the remaining width. */
  width: number;
  align?: 'left' | 'right';
  font?: FontName;
}

interface Cell {
  text: string;
  font?: FontName;
  color?: string;
  /** A second, smaller, muted paragraph under the text (e.g. parameters). */
  sub?: string;
}

type CellIn = string | Cell;

/** Past this, statement text is cut (with a note): a PDF is for reading, the JSON keeps it all. */
const SQL_MAX_CHARS = 20_000;
const SQL_MAX_LINES = 400;
const PARAMS_MAX_CHARS = 300;
const PAD = 3;
const LINE_GAP = 0.6;

/** Text longer than what a table cell should hold, cut with a note saying where the rest is. */
function clip(text: string, maxChars: number, maxLines = Number.POSITIVE_INFINITY): string {
  let out = text;
  const lines = out.split('\n');
  if (lines.length > maxLines) out = lines.slice(0, maxLines).join('\n');
  if (out.length > maxChars) out = out.slice(0, maxChars);
  const cut = text.length - out.length;
  return cut > 0 ? `${out}\n[... ${count(cut)} more characters: see the JSON or CSV report]` : out;
}

const WIN_ANSI_EXTRA = new Set('€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ');

const fmtTime = (us: number) => isoUs(us).slice(0, 23).replace('T', ' ');

class PdfWriter {
  readonly doc: PDFKit.PDFDocument;
  readonly left: number;
  readonly width: number;
  private readonly unicode: boolean;
  private readonly fonts: Record<FontName, string>;

  constructor(
    private readonly report: AuditReport,
    opts: PdfOptions,
  ) {
    const ttf = opts.fonts === false ? null : (opts.fonts ?? findPdfFonts());
    this.doc = new PDFDocument({
      size: 'A4',
      layout: 'landscape',
      margins: { top: 44, bottom: 46, left: 40, right: 40 },
      bufferPages: true,
      autoFirstPage: true,
      info: {
        Title: `Bastion audit report: ${periodText(report.filter.since, report.filter.until)}`,
        Author: report.generator,
        Subject: `Report digest ${report.digest}`,
        Keywords: `bastion audit report; chain head ${report.integrity.chainHead ?? 'none'}`,
        Creator: report.generator,
        CreationDate: new Date(report.generatedAtIso),
      },
      lang: 'en',
      displayTitle: true,
    });
    this.unicode = ttf !== null;
    if (ttf) {
      this.doc.registerFont('sans', ttf.sans);
      this.doc.registerFont('bold', ttf.bold);
      this.doc.registerFont('mono', ttf.mono);
      this.fonts = { sans: 'sans', bold: 'bold', mono: 'mono' };
    } else {
      this.fonts = { sans: 'Helvetica', bold: 'Helvetica-Bold', mono: 'Courier' };
    }
    this.left = this.doc.page.margins.left;
    this.width = this.doc.page.width - this.doc.page.margins.left - this.doc.page.margins.right;
  }

  get bottom(): number {
    return this.doc.page.height - this.doc.page.margins.bottom;
  }

  get top(): number {
    return this.doc.page.margins.top;
  }

  /** Text the chosen fonts can show: control characters out, and Windows-1252 for standard fonts. */
  clean(s: string): string {
    let t = s.replace(/\r\n?/g, '\n').replace(/\t/g, '  ');
    t = t.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
    if (!this.unicode) {
      t = Array.from(t, (ch) => {
        const cp = ch.codePointAt(0)!;
        return ch === '\n' || (cp >= 0x20 && cp <= 0xff) || WIN_ANSI_EXTRA.has(ch) ? ch : '?';
      }).join('');
    }
    return t;
  }

  font(name: FontName, size: number, color = C.ink): this {
    this.doc.font(this.fonts[name]).fontSize(size).fillColor(color);
    return this;
  }

  /**
   * Writes text at (x, y) and returns its height, leaving the cursor where it was (callers move
   * it) and never starting a page on its own.
   */
  put(text: string, x: number, y: number, opts: PDFKit.Mixins.TextOptions = {}): number {
    const t = this.clean(text);
    const h = this.doc.heightOfString(t, { lineGap: LINE_GAP, ...opts });
    const { x: cx, y: cy } = this.doc;
    this.doc.text(t, x, y, { lineGap: LINE_GAP, height: h + 2, ...opts });
    this.doc.x = cx;
    this.doc.y = cy;
    return h;
  }

  height(text: string, width: number): number {
    return this.doc.heightOfString(this.clean(text), { width, lineGap: LINE_GAP });
  }

  newPage(): void {
    this.doc.addPage();
    this.doc.y = this.top;
  }

  /** Starts a new page unless `h` points fit below the cursor. */
  ensure(h: number): void {
    if (this.doc.y + h > this.bottom) this.newPage();
  }

  heading(title: string, note?: string): void {
    this.ensure(90);
    const y = this.doc.y + 10;
    this.doc.outline.addItem(title);
    this.font('bold', 13, C.accent);
    const h = this.put(title, this.left, y, { width: this.width });
    this.doc
      .moveTo(this.left, y + h + 2)
      .lineTo(this.left + this.width, y + h + 2)
      .lineWidth(1.2)
      .strokeColor(C.accent)
      .stroke();
    this.doc.y = y + h + 8;
    if (note) this.paragraph(note, C.muted, 8);
  }

  paragraph(text: string, color = C.ink, size = 9, font: FontName = 'sans'): void {
    this.font(font, size, color);
    const h = this.height(text, this.width);
    this.ensure(h);
    this.put(text, this.left, this.doc.y, { width: this.width });
    this.doc.y += h + 4;
  }

  empty(text: string): void {
    this.paragraph(text, C.muted, 8.5);
  }

  private cellFont(cell: Cell, col: Col): FontName {
    return cell.font ?? col.font ?? 'sans';
  }

  private cellHeight(cell: Cell, col: Col, w: number, size: number): number {
    this.font(this.cellFont(cell, col), size);
    let h = this.height(cell.text, w);
    if (cell.sub) {
      this.font('mono', size - 0.8);
      h += 1.5 + this.height(cell.sub, w);
    }
    return h;
  }

  private widths(cols: Col[], total: number): number[] {
    const fixed = cols.reduce((a, c) => a + c.width, 0);
    return cols.map((c) => (c.width === 0 ? Math.max(40, total - fixed) : c.width));
  }

  private header(cols: Col[], widths: number[], x: number, size: number): void {
    const y = this.doc.y;
    this.font('bold', size, '#ffffff');
    const h = Math.max(...cols.map((c, i) => this.height(c.header, widths[i] - 2 * PAD))) + 2 * PAD;
    this.doc
      .rect(
        x,
        y,
        widths.reduce((a, b) => a + b, 0),
        h,
      )
      .fill(C.accent);
    let cx = x;
    this.font('bold', size, '#ffffff');
    cols.forEach((c, i) => {
      this.put(c.header, cx + PAD, y + PAD, { width: widths[i] - 2 * PAD, align: c.align ?? 'left' });
      cx += widths[i];
    });
    this.doc.y = y + h;
  }

  /** Total height a table would take, drawn without page breaks. */
  measure(cols: Col[], rows: CellIn[][], total: number, size = 7.5): number {
    const widths = this.widths(cols, total);
    this.font('bold', size);
    let h = Math.max(...cols.map((c, i) => this.height(c.header, widths[i] - 2 * PAD))) + 2 * PAD;
    for (const row of rows) h += this.rowHeight(cols, widths, row, size);
    return h;
  }

  private rowHeight(cols: Col[], widths: number[], row: CellIn[], size: number): number {
    let h = 0;
    row.forEach((c, i) => {
      const cell = typeof c === 'string' ? { text: c } : c;
      h = Math.max(h, this.cellHeight(cell, cols[i], widths[i] - 2 * PAD, size));
    });
    return h + 2 * PAD;
  }

  /**
   * Draws a table from the cursor; rows that do not fit start a new page, where the header is
   * drawn again under a "(continued)" line naming the table.
   */
  table(
    cols: Col[],
    rows: CellIn[][],
    opts: { title?: string; size?: number; x?: number; total?: number } = {},
  ): void {
    const size = opts.size ?? 7.5;
    const x = opts.x ?? this.left;
    const total = opts.total ?? this.width;
    const widths = this.widths(cols, total);
    const maxRow = this.bottom - this.top - 40;
    this.ensure(40);
    this.header(cols, widths, x, size);
    const continued = () => {
      this.newPage();
      if (opts.title) {
        this.font('sans', 7.5, C.muted);
        this.put(`${opts.title} (continued)`, x, this.doc.y, { width: total });
        this.doc.y += 11;
      }
      this.header(cols, widths, x, size);
    };
    rows.forEach((row, r) => {
      const full = this.rowHeight(cols, widths, row, size);
      const room = this.bottom - this.doc.y;
      if (full > room) {
        // A short row moves to the next page whole; a tall one fills this page and goes on.
        if (full <= maxRow && (full < 150 || room < 120)) continued();
        else {
          this.splitRow(cols, widths, x, total, row, r, size, continued);
          return;
        }
      }
      const h = full;
      const y = this.doc.y;
      if (r % 2 === 1) this.doc.rect(x, y, total, h).fill(C.zebra);
      let cx = x;
      row.forEach((c, i) => {
        const cell = typeof c === 'string' ? { text: c } : c;
        const w = widths[i] - 2 * PAD;
        this.font(this.cellFont(cell, cols[i]), size, cell.color ?? C.ink);
        const th = Math.min(this.height(cell.text, w), h - 2 * PAD);
        this.doc.text(this.clean(cell.text), cx + PAD, y + PAD, {
          width: w,
          height: th + 1,
          lineGap: LINE_GAP,
          align: cols[i].align ?? 'left',
        });
        if (cell.sub && th + 1.5 < h - 2 * PAD) {
          this.font('mono', size - 0.8, C.muted);
          this.doc.text(this.clean(cell.sub), cx + PAD, y + PAD + th + 1.5, {
            width: w,
            height: Math.max(1, h - 2 * PAD - th - 1.5),
            lineGap: LINE_GAP,
          });
        }
        cx += widths[i];
      });
      this.doc
        .moveTo(x, y + h)
        .lineTo(x + total, y + h)
        .lineWidth(0.4)
        .strokeColor(C.rule)
        .stroke();
      this.doc.y = y + h;
    });
    this.doc.y += 8;
  }

  /** Wraps text into lines no wider than `width` in the current font (long words broken). */
  private wrapLines(text: string, width: number): string[] {
    const fits = (t: string) => this.doc.widthOfString(t) <= width;
    const out: string[] = [];
    for (const para of text.split('\n')) {
      let line = '';
      for (const tok of para.split(/(\s+)/)) {
        if (tok === '') continue;
        if (fits(line + tok)) {
          line += tok;
          continue;
        }
        if (line.trim() !== '') out.push(line.trimEnd());
        line = /^\s+$/.test(tok) ? '' : tok;
        while (!fits(line)) {
          let lo = 1;
          let hi = line.length - 1;
          while (lo < hi) {
            const mid = (lo + hi + 1) >> 1;
            if (fits(line.slice(0, mid))) lo = mid;
            else hi = mid - 1;
          }
          out.push(line.slice(0, lo));
          line = line.slice(lo);
        }
      }
      out.push(line.trimEnd());
    }
    return out;
  }

  /**
   * Draws a row taller than the room left: the other cells in the first part, the tallest cell's
   * lines (then its sub paragraph) spread over as many pages as they need.
   */
  private splitRow(
    cols: Col[],
    widths: number[],
    x: number,
    total: number,
    row: CellIn[],
    r: number,
    size: number,
    continued: () => void,
  ): void {
    const cells = row.map((c) => (typeof c === 'string' ? { text: c } : c));
    const heights = cells.map((c, i) => this.cellHeight(c, cols[i], widths[i] - 2 * PAD, size));
    const k = heights.indexOf(Math.max(...heights));
    const big = cells[k];
    const w = widths[k] - 2 * PAD;
    const bigFont = this.cellFont(big, cols[k]);
    type Item = { text: string; sub: boolean; h: number };
    this.font(bigFont, size);
    const lh = this.doc.currentLineHeight(true) + LINE_GAP;
    const items: Item[] = this.wrapLines(this.clean(big.text), w - 1).map((t) => ({
      text: t,
      sub: false,
      h: lh,
    }));
    if (big.sub) {
      this.font('mono', size - 0.8);
      const sh = this.doc.currentLineHeight(true) + LINE_GAP;
      const subs = this.wrapLines(this.clean(big.sub), w - 1);
      subs.forEach((t, i) => {
        items.push({ text: t, sub: true, h: sh + (i === 0 ? 1.5 : 0) });
      });
    }
    const others = Math.max(0, ...heights.filter((_, i) => i !== k));
    let first = true;
    let i = 0;
    while (i < items.length) {
      let room = this.bottom - this.doc.y - 2 * PAD;
      if ((first && room < others) || room < 3 * lh) {
        continued();
        room = this.bottom - this.doc.y - 2 * PAD;
      }
      const y = this.doc.y;
      let used = 0;
      const part: Item[] = [];
      while (i < items.length && (part.length === 0 || used + items[i].h <= room)) {
        used += items[i].h;
        part.push(items[i++]);
      }
      const h = Math.max(used, first ? others : 0) + 2 * PAD;
      if (r % 2 === 1) this.doc.rect(x, y, total, h).fill(C.zebra);
      let cx = x;
      cells.forEach((cell, j) => {
        if (j === k) {
          let ly = y + PAD;
          for (const it of part) {
            if (it.sub) this.font('mono', size - 0.8, C.muted);
            else this.font(bigFont, size, big.color ?? C.ink);
            const dy = it.sub && it.h > lh ? 1.5 : 0;
            this.doc.text(it.text, cx + PAD, ly + dy, { width: w, lineBreak: false, height: it.h });
            ly += it.h;
          }
        } else if (first) {
          this.font(this.cellFont(cell, cols[j]), size, cell.color ?? C.ink);
          this.doc.text(this.clean(cell.text), cx + PAD, y + PAD, {
            width: widths[j] - 2 * PAD,
            height: others + 1,
            lineGap: LINE_GAP,
            align: cols[j].align ?? 'left',
          });
        } else if (j === 0) {
          this.font('sans', size - 1, C.muted);
          this.doc.text('(continued)', cx + PAD, y + PAD, { lineBreak: false });
        }
        cx += widths[j];
      });
      const last = i >= items.length;
      this.doc
        .moveTo(x, y + h)
        .lineTo(x + total, y + h)
        .lineWidth(0.4)
        .strokeColor(last ? C.rule : C.band)
        .stroke();
      this.doc.y = y + h;
      first = false;
    }
  }

  /** Small tables side by side (each must fit on one page; else they go one after another). */
  sideBySide(parts: { title: string; cols: Col[]; rows: CellIn[][]; emptyText: string }[]): void {
    const gap = 16;
    const w = (this.width - gap * (parts.length - 1)) / parts.length;
    const heights = parts.map((p) => 14 + (p.rows.length ? this.measure(p.cols, p.rows, w) : 14));
    const tallest = Math.max(...heights);
    if (tallest > this.bottom - this.top) {
      for (const p of parts) {
        this.subheading(p.title);
        if (p.rows.length) this.table(p.cols, p.rows, { title: p.title });
        else this.empty(p.emptyText);
      }
      return;
    }
    this.ensure(tallest);
    const y0 = this.doc.y;
    parts.forEach((p, i) => {
      const x = this.left + i * (w + gap);
      this.doc.y = y0;
      this.font('bold', 9.5, C.ink);
      this.put(p.title, x, y0, { width: w });
      this.doc.y = y0 + 14;
      if (p.rows.length) this.table(p.cols, p.rows, { x, total: w });
      else {
        this.font('sans', 8.5, C.muted);
        this.put(p.emptyText, x, this.doc.y, { width: w });
      }
    });
    this.doc.y = y0 + tallest + 8;
  }

  subheading(text: string): void {
    this.ensure(50);
    this.font('bold', 9.5, C.ink);
    this.put(text, this.left, this.doc.y, { width: this.width });
    this.doc.y += 14;
  }

  /** Running head (pages 2+) and footer (every page): digest and "Page N of M". */
  furniture(): void {
    const range = this.doc.bufferedPageRange();
    const r = this.report;
    for (let i = range.start; i < range.start + range.count; i++) {
      this.doc.switchToPage(i);
      const { margins } = this.doc.page;
      const saved = margins.bottom;
      margins.bottom = 0;
      const fy = this.doc.page.height - 30;
      this.doc
        .moveTo(this.left, fy - 5)
        .lineTo(this.left + this.width, fy - 5)
        .lineWidth(0.5)
        .strokeColor(C.rule)
        .stroke();
      this.font('sans', 7, C.muted);
      this.doc.text('Report digest (SHA-256) ', this.left, fy, { lineBreak: false, continued: true });
      this.font('mono', 6.8, C.muted);
      this.doc.text(r.digest, { lineBreak: false, continued: false });
      this.font('sans', 7, C.muted);
      const page = `Page ${i + 1 - range.start} of ${range.count}`;
      this.doc.text(page, this.left, fy, { width: this.width, align: 'right', lineBreak: false });
      if (i > range.start) {
        const hy = 22;
        this.font('sans', 7, C.muted);
        this.doc.text(
          this.clean(
            `Bastion audit report · ${periodText(r.filter.since, r.filter.until)} · ${filterText(r.filter)}`,
          ),
          this.left,
          hy,
          { width: this.width * 0.75, lineBreak: false },
        );
        this.doc.text(
          r.integrity.verified ? 'Store chain verified' : 'Store chain FAILED verification',
          this.left,
          hy,
          {
            width: this.width,
            align: 'right',
            lineBreak: false,
          },
        );
      }
      margins.bottom = saved;
    }
  }
}

function statementCells(st: ReportStatement): CellIn[] {
  const decisionColor =
    st.decision === 'block' ? C.bad : st.decision === 'review' || st.decision === 'warn' ? C.warn : C.ok;
  const approval = st.approval
    ? `\n${st.approval.outcome}${st.approval.approver ? ` by ${st.approval.approver}` : ''}`
    : '';
  const result = st.errorCode
    ? {
        text: `ERROR ${st.errorCode}${st.errorMessage ? `\n${clip(st.errorMessage, 300)}` : ''}`,
        color: C.bad,
      }
    : (st.tag ?? '-');
  return [
    String(st.seq),
    timeOfDay(st.startedAt),
    st.kind,
    {
      text: `${st.decision}${st.rule ? ` (${st.rule})` : ''}${approval}`,
      color: decisionColor,
      font: st.decision === 'allow' ? 'sans' : 'bold',
    },
    durationMs(st.durationUs),
    `${count(st.rows)}${st.truncated ? '+' : ''}`,
    result,
    st.maskedTotal ? count(st.maskedTotal) : '',
    {
      text: clip(st.sql, SQL_MAX_CHARS, SQL_MAX_LINES),
      font: 'mono',
      ...(st.params ? { sub: `params ${clip(JSON.stringify(st.params), PARAMS_MAX_CHARS)}` } : {}),
    },
  ];
}

const STATEMENT_COLS: Col[] = [
  { header: '#', width: 24, align: 'right' },
  { header: 'Time (UTC)', width: 56 },
  { header: 'Kind', width: 46 },
  { header: 'Decision', width: 66 },
  { header: 'ms', width: 42, align: 'right' },
  { header: 'Rows', width: 40, align: 'right' },
  { header: 'Result', width: 96 },
  { header: 'Masked', width: 38, align: 'right' },
  { header: 'SQL', width: 0, font: 'mono' },
];

export async function toPdf(report: AuditReport, opts: PdfOptions = {}): Promise<Buffer> {
  const w = new PdfWriter(report, opts);
  const { doc } = w;
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    doc.on('end', resolve);
    doc.on('error', reject);
  });
  const r = report;
  const s = r.summary;
  const i = r.integrity;
  const period = periodText(r.filter.since, r.filter.until);

  // Title block.
  doc.rect(0, 0, doc.page.width, 6).fill(C.accent);
  w.font('bold', 8, C.muted);
  w.put('B A S T I O N', w.left, 26, { width: w.width, characterSpacing: 1 });
  w.font('bold', 22, C.accent);
  w.put('Audit report', w.left, 38, { width: w.width });
  doc.y = 68;
  const meta: [string, string][] = [
    ['Period', period],
    ['Scope', filterText(r.filter)],
    [
      'Statements',
      s.firstStatementAt === null
        ? 'none in the period'
        : `${humanTime(s.firstStatementAt)} to ${humanTime(s.lastStatementAt)}`,
    ],
    ['Generated', `${r.generatedAtIso} by ${r.generator}`],
    ...(r.source ? ([['Store', r.source]] as [string, string][]) : []),
  ];
  for (const [k, v] of meta) {
    w.font('sans', 9, C.muted);
    w.put(k, w.left, doc.y, { width: 80 });
    w.font('sans', 9, C.ink);
    const h = w.put(v, w.left + 80, doc.y, { width: w.width - 80 });
    doc.y += h + 2;
  }

  // Integrity panel.
  doc.y += 8;
  const panelY = doc.y;
  const verdict = i.verified
    ? `Store chain verified: ${count(i.records)} records intact`
    : `Store chain FAILED verification at record ${i.firstBad?.id}: ${i.firstBad?.reason}`;
  const note = `Chain head: SHA-256 of the last record of the store's append-only chain when the report was built${
    i.verified ? '' : ' (the last record that verified)'
  }. Report digest: ${DIGEST_DEFINITION}`;
  w.font('sans', 7.5);
  const panelH = 58 + w.height(note, w.width - 24);
  doc.rect(w.left, panelY, w.width, panelH).fill(i.verified ? C.okBg : C.badBg);
  doc.rect(w.left, panelY, 4, panelH).fill(i.verified ? C.ok : C.bad);
  w.font('bold', 11, i.verified ? C.ok : C.bad);
  w.put(verdict, w.left + 14, panelY + 8, { width: w.width - 24 });
  w.font('sans', 8.5, C.muted);
  w.put('Chain head', w.left + 14, panelY + 26, { width: 90 });
  w.put('Report digest', w.left + 14, panelY + 38, { width: 90 });
  w.font('mono', 8.5, C.ink);
  w.put(i.chainHead ?? '(empty store)', w.left + 104, panelY + 26, { width: w.width - 120 });
  w.put(r.digest, w.left + 104, panelY + 38, { width: w.width - 120 });
  w.font('sans', 7.5, C.muted);
  w.put(note, w.left + 14, panelY + 52, { width: w.width - 24 });
  doc.y = panelY + panelH + 14;

  // Key figures.
  doc.outline.addItem('Summary');
  const figures: [number, string, boolean][] = [
    [s.sessions, 'Sessions', false],
    [s.statements, 'Statements', false],
    [s.blocked, 'Blocked', true],
    [s.held, 'Held for review', true],
    [s.masked, 'Masked values', false],
    [s.errors, 'Errors', true],
  ];
  const gap = 10;
  const bw = (w.width - gap * (figures.length - 1)) / figures.length;
  figures.forEach(([n, label, alert], k) => {
    const x = w.left + k * (bw + gap);
    doc.rect(x, doc.y, bw, 44).fillAndStroke(C.band, C.rule);
    w.font('bold', 18, alert && n > 0 ? C.bad : C.ink);
    w.put(count(n), x + 10, doc.y + 6, { width: bw - 20 });
    w.font('sans', 8, C.muted);
    w.put(label, x + 10, doc.y + 29, { width: bw - 20 });
  });
  doc.y += 56;

  const kvRows = (m: Record<string, number>, total: number): CellIn[][] =>
    Object.entries(m).map(([k, n]) => [k, count(n), `${total ? ((100 * n) / total).toFixed(1) : '0.0'}%`]);
  const kvCols = (label: string): Col[] => [
    { header: label, width: 0 },
    { header: 'Count', width: 50, align: 'right' },
    { header: 'Share', width: 44, align: 'right' },
  ];
  w.sideBySide([
    {
      title: 'Statements by kind',
      cols: kvCols('Kind'),
      rows: kvRows(s.byKind, s.statements),
      emptyText: 'None.',
    },
    {
      title: 'Decisions',
      cols: kvCols('Decision'),
      rows: kvRows(s.byDecision, s.statements),
      emptyText: 'None.',
    },
    {
      title: 'Errors by SQLSTATE',
      cols: kvCols('SQLSTATE'),
      rows: kvRows(s.errorsByCode, s.errors),
      emptyText: 'No statement failed.',
    },
  ]);

  w.subheading('Activity by identity and connection');
  if (s.activity.length) {
    const n = (x: number) => ({ text: count(x) });
    w.table(
      [
        { header: 'Identity', width: 0 },
        { header: 'Connection', width: 140 },
        { header: 'Sessions', width: 60, align: 'right' },
        { header: 'Statements', width: 64, align: 'right' },
        { header: 'Blocked', width: 56, align: 'right' },
        { header: 'Held', width: 50, align: 'right' },
        { header: 'Errors', width: 50, align: 'right' },
        { header: 'Rows', width: 70, align: 'right' },
        { header: 'Masked', width: 56, align: 'right' },
      ],
      s.activity.map((a) => [
        a.identity,
        a.connection,
        n(a.sessions),
        n(a.statements),
        n(a.blocked),
        n(a.held),
        n(a.errors),
        n(a.rows),
        n(a.masked),
      ]),
      { title: 'Activity by identity and connection' },
    );
  } else w.empty('No sessions in the period.');

  const refCols: Col[] = [
    { header: 'Time (UTC)', width: 96 },
    { header: 'Identity', width: 74 },
    { header: 'Connection', width: 64 },
    { header: 'Statement', width: 66, font: 'mono' },
    { header: 'Kind', width: 46 },
    { header: 'Rule', width: 80, font: 'mono' },
  ];
  const ref = (x: { sessionId: string; seq: number | null }) =>
    `${x.sessionId.slice(0, 8)} ${x.seq === null ? '(no statement)' : `#${x.seq}`}`;
  const sqlCell = (sql: string): Cell => ({ text: clip(sql, SQL_MAX_CHARS, SQL_MAX_LINES), font: 'mono' });

  w.heading(`Blocked statements (${count(r.blocked.length)})`);
  if (r.blocked.length) {
    w.table(
      [...refCols, { header: 'SQL', width: 0, font: 'mono' }],
      r.blocked.map((b) => [
        fmtTime(b.startedAt),
        b.identity,
        b.connection,
        ref(b),
        b.kind,
        b.rule ?? '-',
        sqlCell(b.sql),
      ]),
      { title: 'Blocked statements' },
    );
  } else w.empty('No statement was blocked.');

  w.heading(
    `Held for review (${count(r.held.length)})`,
    r.approvals.recorded
      ? undefined
      : 'This store does not record approval decisions yet: outcomes and approvers of held statements are shown as not recorded.',
  );
  if (r.held.length) {
    w.table(
      [
        ...refCols.slice(0, 4),
        { header: 'Rule', width: 70, font: 'mono' },
        { header: 'Outcome', width: 58 },
        { header: 'Approver', width: 64 },
        { header: 'Decided (UTC)', width: 96 },
        { header: 'SQL', width: 0, font: 'mono' },
      ],
      r.held.map((h) => [
        fmtTime(h.startedAt),
        h.identity,
        h.connection,
        ref(h),
        h.rule ?? '-',
        {
          text: h.outcome ?? 'not recorded',
          color: h.outcome === 'approved' ? C.ok : h.outcome ? C.bad : C.muted,
        },
        h.approver ?? '-',
        h.decidedAt === null ? '-' : fmtTime(h.decidedAt),
        sqlCell(h.sql),
      ]),
      { title: 'Held for review' },
    );
  } else w.empty('No statement was held for review.');
  if (r.approvals.recorded && r.approvals.entries.length) {
    w.heading(`Approvals (${count(r.approvals.entries.length)})`);
    w.table(
      [
        { header: 'Requested (UTC)', width: 100 },
        { header: 'Statement', width: 80, font: 'mono' },
        { header: 'Outcome', width: 70 },
        { header: 'Approver', width: 100 },
        { header: 'Decided (UTC)', width: 100 },
        { header: 'Reason', width: 0 },
      ],
      r.approvals.entries.map((a) => [
        fmtTime(a.requestedAt),
        ref({ sessionId: a.sessionId, seq: a.statementSeq }),
        a.outcome,
        a.approver ?? '-',
        a.decidedAt === null ? '-' : fmtTime(a.decidedAt),
        a.reason ?? '',
      ]),
      { title: 'Approvals' },
    );
  }

  w.heading(`Masking (${count(s.masked)} values)`);
  if (r.masking.length) {
    w.table(
      [
        { header: 'Rule', width: 0, font: 'mono' },
        { header: 'Values masked', width: 90, align: 'right' },
        { header: 'Statements', width: 90, align: 'right' },
      ],
      r.masking.map((m) => [m.rule, count(m.values), count(m.statements)]),
      { title: 'Masking' },
    );
  } else w.empty('No value was masked.');

  w.heading(`Errors (${count(r.errors.length)})`);
  if (r.errors.length) {
    w.table(
      [
        ...refCols.slice(0, 4),
        { header: 'SQLSTATE', width: 52, font: 'mono' },
        { header: 'Message', width: 170 },
        { header: 'SQL', width: 0, font: 'mono' },
      ],
      r.errors.map((x) => [
        fmtTime(x.startedAt),
        x.identity,
        x.connection,
        ref(x),
        { text: x.errorCode, color: C.bad },
        clip(x.errorMessage ?? '', 400),
        sqlCell(x.sql),
      ]),
      { title: 'Errors' },
    );
  } else w.empty('No statement failed.');

  w.heading('Retention');
  if (r.retention.length) {
    w.table(
      [
        { header: 'Pruned at (UTC)', width: 110 },
        { header: 'Record', width: 60, align: 'right' },
        { header: 'Connection', width: 0 },
        { header: 'Sessions that ended before (UTC)', width: 170 },
        { header: 'Sessions removed', width: 90, align: 'right' },
        { header: 'Records removed', width: 90, align: 'right' },
      ],
      r.retention.map((p) => [
        fmtTime(p.at),
        String(p.recordId),
        p.connection ?? 'all',
        fmtTime(p.before),
        count(p.sessions.length),
        count(p.records),
      ]),
      { title: 'Retention' },
    );
  } else w.empty('No session of this scope was removed by retention.');

  // Session detail, from a new page.
  w.newPage();
  w.heading(`Sessions (${count(r.sessions.length)})`);
  if (r.sessions.length === 0) w.empty('No sessions in the period.');
  for (const { session: x, statements } of r.sessions) {
    w.ensure(statements.length ? 92 : 50);
    const y = doc.y;
    const sub =
      `client ${x.clientAddress} · ${x.authMethod} · ${x.tls ? 'TLS' : 'no TLS'} · protocol ${x.protocol}` +
      `${x.applicationName ? ` · application ${x.applicationName}` : ''}${x.database ? ` · database ${x.database}` : ''}\n` +
      `started ${humanTime(x.startedAt)} · ${
        x.endedAt === null
          ? 'still open'
          : `ended ${humanTime(x.endedAt)}${x.endReason ? ` (${x.endReason})` : ''}`
      } · ${count(x.statements)} statements recorded, ${count(statements.length)} in the period`;
    w.font('sans', 7.5);
    const hh = 20 + w.height(sub, w.width - 16);
    doc.rect(w.left, y, w.width, hh).fillAndStroke(C.band, C.rule);
    w.font('bold', 9.5, C.accent);
    w.put(`${x.identity} on ${x.connection}`, w.left + 8, y + 5, { width: 300 });
    w.font('mono', 8, C.ink);
    w.put(x.id, w.left + 8, y + 5, { width: w.width - 16, align: 'right' });
    w.font('sans', 7.5, C.muted);
    w.put(sub, w.left + 8, y + 18, { width: w.width - 16 });
    doc.y = y + hh + 2;
    if (statements.length) {
      w.table(STATEMENT_COLS, statements.map(statementCells), {
        title: `Session ${x.id} (${x.identity} on ${x.connection})`,
      });
    } else {
      w.empty('No statements in the period.');
    }
    doc.y += 4;
  }

  w.furniture();
  doc.end();
  await done;
  return Buffer.concat(chunks);
}
