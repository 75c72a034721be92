// A virtualized list written for the live inspector: only the rows in view (plus a few) exist in
// the DOM, each absolutely placed, so thousands of statements per second cost one small render
// per frame. It keeps the reader's place when rows arrive at the top, and follows the live edge
// (top for newest-first, bottom for tail) while the reader is there.

import { type ReactNode, useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';

interface Props {
  count: number;
  rowHeight: number;
  /** Changes whenever rows change (re-render). */
  version: number;
  /** Rows ever added at the live edge: the difference since the last render is how far to shift. */
  serial: number;
  /** When it changes, the list jumps to the live edge (a new filter, a new order). */
  resetKey: string | number;
  /** Where new rows appear. */
  edge: 'top' | 'bottom';
  rowKey(i: number): string;
  renderRow(i: number, style: React.CSSProperties): ReactNode;
  /** The selected row: scrolled into view when `selectedKey` changes (not when rows move). */
  selectedIndex?: number | null;
  selectedKey?: string | null;
  onEdgeChange?(atEdge: boolean): void;
  /** Imperative jump to the live edge. */
  jumpRef?: React.RefObject<(() => void) | null>;
  label: string;
}

const OVERSCAN = 8;

export function VirtualRows(p: Props) {
  const ref = useRef<HTMLDivElement>(null);
  const [viewport, setViewport] = useState({ top: 0, height: 0 });
  const atEdge = useRef(true);
  const lastSerial = useRef(p.serial);
  const frame = useRef<number | null>(null);

  const measure = useCallback(() => {
    const el = ref.current;
    if (!el) return;
    const edgeNow =
      p.edge === 'top'
        ? el.scrollTop < p.rowHeight / 2
        : el.scrollHeight - el.scrollTop - el.clientHeight < p.rowHeight;
    if (edgeNow !== atEdge.current) {
      atEdge.current = edgeNow;
      p.onEdgeChange?.(edgeNow);
    }
    setViewport((v) =>
      v.top === el.scrollTop && v.height === el.clientHeight
        ? v
        : { top: el.scrollTop, height: el.clientHeight },
    );
  }, [p.edge, p.rowHeight, p.onEdgeChange]);

  const onScroll = () => {
    if (frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      measure();
    });
  };

  useEffect(
    () => () => {
      if (frame.current !== null) cancelAnimationFrame(frame.current);
    },
    [],
  );

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(() => measure());
    ro.observe(el);
    return () => ro.disconnect();
  }, [measure]);

  const jump = useCallback(() => {
    const el = ref.current;
    if (!el) return;
    el.scrollTop = p.edge === 'top' ? 0 : el.scrollHeight;
    atEdge.current = true;
    p.onEdgeChange?.(true);
    measure();
  }, [p.edge, measure, p.onEdgeChange]);

  if (p.jumpRef) p.jumpRef.current = jump;

  // New rows: follow the live edge, or keep the rows the reader is looking at where they are.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs on every change of the rows
  useLayoutEffect(() => {
    const el = ref.current;
    const added = p.serial - lastSerial.current;
    lastSerial.current = p.serial;
    if (!el) return;
    if (p.edge === 'bottom') {
      if (atEdge.current) el.scrollTop = el.scrollHeight;
    } else if (!atEdge.current && added > 0) {
      el.scrollTop += added * p.rowHeight;
    }
  }, [p.version]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new filter or order starts at the live edge
  useLayoutEffect(() => {
    lastSerial.current = p.serial;
    jump();
  }, [p.resetKey, p.edge]);

  const selectedIndex = useRef(p.selectedIndex);
  selectedIndex.current = p.selectedIndex;
  // biome-ignore lint/correctness/useExhaustiveDependencies: only a new selection scrolls
  useLayoutEffect(() => {
    const el = ref.current;
    const index = selectedIndex.current;
    if (!el || index === null || index === undefined) return;
    const top = index * p.rowHeight;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + p.rowHeight > el.scrollTop + el.clientHeight)
      el.scrollTop = top + p.rowHeight - el.clientHeight;
  }, [p.selectedKey]);

  const first = Math.max(0, Math.floor(viewport.top / p.rowHeight) - OVERSCAN);
  const last = Math.min(
    p.count,
    Math.ceil((viewport.top + (viewport.height || 800)) / p.rowHeight) + OVERSCAN,
  );
  const rows: ReactNode[] = [];
  for (let i = first; i < last; i++) {
    rows.push(p.renderRow(i, { transform: `translateY(${i * p.rowHeight}px)` }));
  }

  return (
    // biome-ignore lint/a11y/useSemanticElements: a virtualized list places its rows absolutely; a <table> cannot
    <div
      className="vlist"
      ref={ref}
      onScroll={onScroll}
      role="grid"
      aria-label={p.label}
      aria-rowcount={p.count}
    >
      <div style={{ height: p.count * p.rowHeight, position: 'relative' }}>{rows}</div>
    </div>
  );
}
