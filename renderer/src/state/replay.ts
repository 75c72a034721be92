// The replayer's slice. A session may have hundreds of thousands of frames, so nothing holds them
// all: frames and statements are read in pages around where the reader is (PageCache, mutated in
// place; pages far away are dropped) and the slice publishes a cursor (the current frame), the
// playback state and a `version` that changes when pages arrive. The timeline comes from
// openReplay: every statement's frame range and decision flags, a few numbers each.

import type { StateCreator } from 'zustand/vanilla';
import { type BastionApi, type FrameBytes, type ReplayInfo, STATEMENT_MARK } from '../../../shared/api.js';
import type { FrameView, StatementRecord } from '../../../shared/types.js';
import type { AppState } from './store.js';

export const FRAME_PAGE = 500;
export const STATEMENT_PAGE = 200;
export const SPEEDS = [1, 4, 16] as const;
export type Speed = (typeof SPEEDS)[number];
/** Playing at recorded speed, idle time longer than this between frames is cut to it. */
export const MAX_IDLE_US = 1_500_000;
/** Frames a playback tick may move over (the clock waits for the rest). */
const MAX_STEPS_PER_TICK = 4000;
/** The most DataRows the result grid shows for one statement. */
export const GRID_ROWS = 1000;

/**
 * Items numbered from 1 in pages of `pageSize` (page p holds p*size+1 .. (p+1)*size), at most
 * `maxPages` kept: the pages farthest from the last one asked for go first.
 */
export class PageCache<T> {
  private readonly pages = new Map<number, T[]>();
  readonly loading = new Set<number>();

  constructor(
    readonly pageSize: number,
    readonly maxPages = 60,
  ) {}

  pageOf(n: number): number {
    return Math.floor((n - 1) / this.pageSize);
  }

  has(page: number): boolean {
    return this.pages.has(page);
  }

  /** Item number n (1-based), if its page is here. */
  get(n: number): T | undefined {
    return this.pages.get(this.pageOf(n))?.[(n - 1) % this.pageSize];
  }

  put(page: number, items: T[], around = page): void {
    this.pages.set(page, items);
    this.loading.delete(page);
    if (this.pages.size <= this.maxPages) return;
    const far = [...this.pages.keys()].sort((a, b) => Math.abs(b - around) - Math.abs(a - around));
    for (const p of far.slice(0, this.pages.size - this.maxPages)) this.pages.delete(p);
  }

  /** Pages in [from, to] (item numbers, clamped to 1..last) not here and not being read. */
  missing(from: number, to: number, last: number): number[] {
    const out: number[] = [];
    const a = this.pageOf(Math.max(1, from));
    const b = this.pageOf(Math.max(1, Math.min(to, last)));
    for (let p = a; p <= b; p++) if (!this.pages.has(p) && !this.loading.has(p)) out.push(p);
    return out;
  }

  clear(): void {
    this.pages.clear();
    this.loading.clear();
  }

  get size(): number {
    return this.pages.size;
  }
}

/** What the replayer holds of one session: the timeline marks and the pages read so far. */
export class ReplayData {
  readonly frames = new PageCache<FrameView>(FRAME_PAGE);
  /** By position in the timeline (1-based), not by seq. */
  readonly statements = new PageCache<StatementRecord>(STATEMENT_PAGE);
  /** [seq, firstFrame, lastFrame, flags] per statement, flattened (ReplayInfo.marks). */
  marks: number[] = [];

  get statementCount(): number {
    return this.marks.length / 4;
  }

  /** The statement (0-based index) whose frames hold `seq`, or the last one before it; -1 when none. */
  statementIndexAt(seq: number): number {
    return statementIndexAt(this.marks, seq);
  }

  clear(): void {
    this.frames.clear();
    this.statements.clear();
    this.marks = [];
  }
}

/** Binary search over marks by first frame: the last statement starting at or before `seq`. */
export function statementIndexAt(marks: readonly number[], seq: number): number {
  let lo = 0;
  let hi = marks.length / 4 - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (marks[mid * 4 + 1] <= seq) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

export function markOf(marks: readonly number[], index: number) {
  const o = index * 4;
  const flags = marks[o + 3];
  return {
    seq: marks[o],
    firstFrame: marks[o + 1],
    lastFrame: marks[o + 2],
    blocked: (flags & STATEMENT_MARK.blocked) !== 0,
    held: (flags & STATEMENT_MARK.held) !== 0,
    error: (flags & STATEMENT_MARK.error) !== 0,
    warn: (flags & STATEMENT_MARK.warn) !== 0,
  };
}

/**
 * Playback: moves from `cursor` to the last frame recorded at or before `clockUs` (microseconds
 * since the session started), over frames that are loaded. Idle time longer than MAX_IDLE_US is
 * cut. Returns the new cursor and clock, the page that must be read to go on (null when none),
 * and whether the end was reached.
 */
export function advance(
  frames: PageCache<FrameView>,
  cursor: number,
  clockUs: number,
  last: number,
): { cursor: number; clockUs: number; need: number | null; done: boolean } {
  let c = cursor;
  let clock = clockUs;
  for (let steps = 0; steps < MAX_STEPS_PER_TICK; steps++) {
    if (c >= last) return { cursor: last, clockUs: clock, need: null, done: true };
    const cur = frames.get(c);
    const next = frames.get(c + 1);
    if (!next || !cur)
      return { cursor: c, clockUs: clock, need: frames.pageOf(next ? c : c + 1), done: false };
    if (next.t_us - cur.t_us > MAX_IDLE_US) clock = Math.max(clock, next.t_us - MAX_IDLE_US);
    if (next.t_us > clock) return { cursor: c, clockUs: clock, need: null, done: false };
    c++;
  }
  // Far behind (x16 through a large result): the clock waits for the frames.
  const at = frames.get(c);
  return { cursor: c, clockUs: at ? Math.min(clock, at.t_us) : clock, need: null, done: false };
}

export interface ResultGrid {
  columns: string[];
  rows: { seq: number; values: (string | null)[] }[];
  /** DataRows of the statement up to the cursor (more than `rows` when capped). */
  total: number;
  /** Index in `rows` of the row at the cursor, if the cursor is on a DataRow. */
  current: number | null;
  /** Whether all the statement's rows were loaded. */
  complete: boolean;
}

/**
 * The result as the client saw it when frame `cursor` went by: the columns of the statement's
 * RowDescription and its DataRows up to the cursor (the values recorded: masked ones masked).
 */
export function resultGrid(
  frames: PageCache<FrameView>,
  firstFrame: number,
  lastFrame: number,
  cursor: number,
): ResultGrid | null {
  let columns: string[] | null = null;
  const rows: ResultGrid['rows'] = [];
  let total = 0;
  let current: number | null = null;
  let complete = true;
  const end = Math.min(lastFrame, cursor);
  for (let s = firstFrame; s <= end; s++) {
    const f = frames.get(s);
    if (!f) {
      complete = false;
      continue;
    }
    if (f.dir !== 'server') continue;
    if (f.type === 'RowDescription') {
      const fields = (f.decoded.fields ?? []) as { name?: unknown }[];
      columns = fields.map((x) => String(x.name ?? ''));
      rows.length = 0;
      total = 0;
      current = null;
    } else if (f.type === 'DataRow') {
      total++;
      if (rows.length < GRID_ROWS) {
        rows.push({ seq: f.seq, values: (f.decoded.values ?? []) as (string | null)[] });
        if (f.seq === cursor) current = rows.length - 1;
      }
    }
  }
  if (columns === null && rows.length === 0) return null;
  let width = columns?.length ?? 0;
  for (const r of rows) width = Math.max(width, r.values.length);
  return {
    // Columns the RowDescription does not name (or no RowDescription was recorded) get a number.
    columns: Array.from({ length: width }, (_, i) => columns?.[i] ?? `column ${i + 1}`),
    rows,
    total,
    current,
    complete,
  };
}

/** A frame on one line, for the frame list. */
export function frameSummary(f: FrameView): string {
  const d = f.decoded as Record<string, unknown>;
  if (typeof d.sql === 'string') return d.sql;
  if (typeof d.tag === 'string') return d.tag;
  if (typeof d.message === 'string') return `${d.code ?? ''} ${d.message}`.trim();
  if (Array.isArray(d.fields)) return (d.fields as { name?: string }[]).map((x) => x.name).join(', ');
  if (Array.isArray(d.values))
    return (d.values as unknown[]).map((v) => (v === null ? 'NULL' : String(v))).join(' | ');
  if (Array.isArray(d.params))
    return (d.params as unknown[]).map((v, i) => `$${i + 1}=${v === null ? 'NULL' : String(v)}`).join(' ');
  if (typeof d.status === 'string') return `status ${d.status}`;
  if (typeof d.text === 'string') return d.text;
  if (d.parameters && typeof d.parameters === 'object') {
    return Object.entries(d.parameters as Record<string, string>)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
  }
  const json = JSON.stringify(d);
  return json === '{}' ? '' : json;
}

export type ReplayPanel = 'decoded' | 'bytes';

export interface ReplayState {
  /** The session shown (null before one is opened). */
  id: string | null;
  info: ReplayInfo | null;
  loading: boolean;
  error: string | null;
  /** The current frame's seq (1-based; 0 when the session has no frames). */
  cursor: number;
  playing: boolean;
  speed: Speed;
  /** Recorded time (µs since the session started) the playback clock is at. */
  clockUs: number;
  /** Changes when pages arrive. */
  version: number;
  panel: ReplayPanel;
  bytes: FrameBytes | null;
  bytesError: string | null;
}

export interface ReplaySlice {
  replay: ReplayState;
  /** Not reactive: read it when `replay.version` changes. */
  replayData: ReplayData;
  /** Opens a session (at frame `at`, default the first). */
  openReplay(id: string, at?: number): Promise<void>;
  /** Moves to a frame (clamped) and, unless `load` is false (scrubbing), reads the pages around it. */
  seekFrame(seq: number, load?: boolean): void;
  stepFrame(delta: number): void;
  /** Moves to the first frame of a statement (0-based index in the timeline). */
  jumpToStatement(index: number): void;
  /** Next / previous statement from the cursor. */
  stepStatement(delta: 1 | -1): void;
  setPlaying(playing: boolean): void;
  setSpeed(speed: Speed): void;
  /** Advances the playback by `elapsedMs` of wall time (call once per animation frame). */
  playTick(elapsedMs: number): void;
  /** Reads the frame pages that hold [from, to] if they are not here. */
  ensureFrames(from: number, to: number): Promise<void>;
  /** Reads the statement pages that hold timeline positions [from, to] (1-based). */
  ensureStatements(from: number, to: number): Promise<void>;
  setReplayPanel(panel: ReplayPanel): void;
  loadFrameBytes(seq: number): Promise<void>;
}

export function createReplaySlice(
  api: Pick<BastionApi, 'openReplay' | 'readFrames' | 'statementsPage' | 'readFrameBytes'>,
): StateCreator<AppState, [], [], ReplaySlice> {
  const data = new ReplayData();
  let opened = 0;
  return (set, get) => {
    const patch = (p: Partial<ReplayState>) => set({ replay: { ...get().replay, ...p } });
    const bump = () => patch({ version: get().replay.version + 1 });
    const lastFrame = () => get().replay.info?.frames ?? 0;

    const readFramePage = async (page: number, token: number, around: number) => {
      const id = get().replay.id;
      if (!id) return;
      data.frames.loading.add(page);
      try {
        const frames = await api.readFrames(id, page * FRAME_PAGE + 1, FRAME_PAGE);
        if (token !== opened) return;
        data.frames.put(page, frames, data.frames.pageOf(around));
        bump();
      } catch (e) {
        data.frames.loading.delete(page);
        if (token === opened) patch({ error: (e as Error).message });
      }
    };

    return {
      replayData: data,
      replay: {
        id: null,
        info: null,
        loading: false,
        error: null,
        cursor: 0,
        playing: false,
        speed: 1,
        clockUs: 0,
        version: 0,
        panel: 'decoded',
        bytes: null,
        bytesError: null,
      },

      async openReplay(id, at) {
        const cur = get().replay;
        if (cur.id === id && cur.info) {
          if (at !== undefined) get().seekFrame(at);
          return;
        }
        const token = ++opened;
        data.clear();
        patch({
          id,
          info: null,
          loading: true,
          error: null,
          cursor: 0,
          playing: false,
          clockUs: 0,
          bytes: null,
        });
        try {
          const info = await api.openReplay(id);
          if (token !== opened) return;
          if (!info) {
            patch({ loading: false, error: `No recorded session ${id}` });
            return;
          }
          data.marks = info.marks;
          const cursor = info.frames === 0 ? 0 : Math.max(1, Math.min(at ?? 1, info.frames));
          patch({ info, loading: false, cursor });
          await Promise.all([
            get().ensureFrames(cursor - FRAME_PAGE / 2, cursor + FRAME_PAGE / 2),
            get().ensureStatements(1, STATEMENT_PAGE),
          ]);
        } catch (e) {
          if (token === opened) patch({ loading: false, error: (e as Error).message });
        }
      },

      seekFrame(seq, load = true) {
        const last = lastFrame();
        if (last === 0) return;
        const cursor = Math.max(1, Math.min(Math.round(seq), last));
        if (cursor === get().replay.cursor) return;
        const f = data.frames.get(cursor);
        patch({ cursor, clockUs: f ? f.t_us : get().replay.clockUs, bytes: null, bytesError: null });
        if (load) void get().ensureFrames(cursor - 100, cursor + 100);
        if (load && get().replay.panel === 'bytes') void get().loadFrameBytes(cursor);
      },

      stepFrame(delta) {
        get().seekFrame(get().replay.cursor + delta);
      },

      jumpToStatement(index) {
        if (index < 0 || index >= data.statementCount) return;
        get().seekFrame(data.marks[index * 4 + 1]);
        void get().ensureStatements(index + 1 - 50, index + 1 + 50);
      },

      stepStatement(delta) {
        const cursor = get().replay.cursor;
        const i = data.statementIndexAt(cursor);
        if (delta > 0) get().jumpToStatement(i + 1);
        else {
          const first = i >= 0 ? data.marks[i * 4 + 1] : 0;
          // Back from inside a statement goes to its start; from its start, to the one before.
          get().jumpToStatement(cursor > first ? i : i - 1);
        }
      },

      setPlaying(playing) {
        const r = get().replay;
        if (playing === r.playing) return;
        if (playing && r.cursor >= lastFrame()) {
          get().seekFrame(1);
        }
        const f = data.frames.get(get().replay.cursor);
        patch({ playing, clockUs: f ? f.t_us : get().replay.clockUs });
      },

      setSpeed(speed) {
        patch({ speed });
      },

      playTick(elapsedMs) {
        const r = get().replay;
        if (!r.playing) return;
        const step = advance(data.frames, r.cursor, r.clockUs + elapsedMs * 1000 * r.speed, lastFrame());
        if (step.need !== null && !data.frames.has(step.need) && !data.frames.loading.has(step.need)) {
          void readFramePage(step.need, opened, step.cursor);
        }
        // Read ahead of the playback.
        const ahead = data.frames.pageOf(step.cursor) + 1;
        if (ahead * FRAME_PAGE < lastFrame() && !data.frames.has(ahead) && !data.frames.loading.has(ahead)) {
          void readFramePage(ahead, opened, step.cursor);
        }
        if (step.cursor !== r.cursor || step.clockUs !== r.clockUs || step.done) {
          patch({ cursor: step.cursor, clockUs: step.clockUs, playing: !step.done, bytes: null });
        }
      },

      async ensureFrames(from, to) {
        const token = opened;
        const missing = data.frames.missing(from, to, lastFrame());
        const center = Math.round((from + to) / 2);
        await Promise.all(missing.map((p) => readFramePage(p, token, center)));
      },

      async ensureStatements(from, to) {
        const id = get().replay.id;
        const token = opened;
        if (!id) return;
        const missing = data.statements.missing(from, to, data.statementCount);
        await Promise.all(
          missing.map(async (p) => {
            data.statements.loading.add(p);
            try {
              // By position in the timeline (page p holds positions p*size+1 ..), read from its seq.
              const rows = await api.statementsPage(id, data.marks[p * STATEMENT_PAGE * 4], STATEMENT_PAGE);
              if (token !== opened) return;
              data.statements.put(p, rows, data.statements.pageOf(Math.round((from + to) / 2)));
              bump();
            } catch (e) {
              data.statements.loading.delete(p);
              if (token === opened) patch({ error: (e as Error).message });
            }
          }),
        );
      },

      setReplayPanel(panel) {
        patch({ panel });
        if (panel === 'bytes') void get().loadFrameBytes(get().replay.cursor);
      },

      async loadFrameBytes(seq) {
        const id = get().replay.id;
        if (!id || seq < 1) return;
        try {
          const bytes = await api.readFrameBytes(id, seq);
          if (get().replay.cursor === seq && get().replay.id === id) {
            patch({ bytes, bytesError: bytes ? null : `Frame ${seq} is not in the store` });
          }
        } catch (e) {
          patch({ bytesError: (e as Error).message });
        }
      },
    };
  };
}

/** A hex dump: offset, 16 bytes in hex, the printable ASCII. */
export function hexDump(hex: string): string {
  const lines: string[] = [];
  for (let o = 0; o < hex.length; o += 32) {
    const chunk = hex.slice(o, o + 32);
    const bytes = chunk.match(/../g) ?? [];
    const hexPart = bytes.map((b, i) => (i === 8 ? ` ${b}` : b)).join(' ');
    const ascii = bytes
      .map((b) => {
        const c = Number.parseInt(b, 16);
        return c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
      })
      .join('');
    lines.push(`${(o / 2).toString(16).padStart(8, '0')}  ${hexPart.padEnd(48)}  ${ascii}`);
  }
  return lines.join('\n');
}
