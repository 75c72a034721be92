// A plain virtualized list of fixed-height rows (the replayer's frames and statements): only the
// rows in view exist in the DOM. It tells its owner which rows are in view (to read their pages)
// and keeps a followed row (the replay cursor) in view when it moves.

import { type ReactNode, useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';

interface Props {
  count: number;
  rowHeight: number;
  renderRow(index: number, style: React.CSSProperties): ReactNode;
  /** Kept in view when it changes (0-based; null = none). */
  follow?: number | null;
  /** Rows in view changed (0-based, inclusive). */
  onRange?(first: number, last: number): void;
  label: string;
  className?: string;
}

const OVERSCAN = 10;

export function VirtualList(p: Props) {
  const ref = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 0 });
  const frame = useRef<number | null>(null);

  const measure = useCallback(() => {
    const el = ref.current;
    if (!el) return;
    setView((v) =>
      v.top === el.scrollTop && v.height === el.clientHeight
        ? v
        : { top: el.scrollTop, height: el.clientHeight },
    );
  }, []);

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(() => measure());
    ro.observe(el);
    measure();
    return () => ro.disconnect();
  }, [measure]);

  useEffect(
    () => () => {
      if (frame.current !== null) cancelAnimationFrame(frame.current);
    },
    [],
  );

  // biome-ignore lint/correctness/useExhaustiveDependencies: only a new followed row scrolls
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || p.follow === null || p.follow === undefined) return;
    const top = p.follow * p.rowHeight;
    if (top < el.scrollTop || top + p.rowHeight > el.scrollTop + el.clientHeight) {
      // Center it: the rows around the cursor are what the reader wants to see.
      el.scrollTop = Math.max(0, top - el.clientHeight / 2 + p.rowHeight / 2);
      measure();
    }
  }, [p.follow]);

  const first = Math.max(0, Math.floor(view.top / p.rowHeight) - OVERSCAN);
  const last = Math.min(p.count, Math.ceil((view.top + (view.height || 600)) / p.rowHeight) + OVERSCAN);

  const onRange = p.onRange;
  useEffect(() => {
    if (p.count > 0) onRange?.(first, Math.max(first, last - 1));
  }, [first, last, p.count, onRange]);

  const rows: ReactNode[] = [];
  for (let i = first; i < last; i++)
    rows.push(p.renderRow(i, { transform: `translateY(${i * p.rowHeight}px)` }));

  return (
    // biome-ignore lint/a11y/useSemanticElements: a virtualized list places its rows absolutely; a <table> cannot
    <div
      className={`vlist ${p.className ?? ''}`}
      ref={ref}
      role="grid"
      aria-label={p.label}
      aria-rowcount={p.count}
      onScroll={() => {
        if (frame.current !== null) return;
        frame.current = requestAnimationFrame(() => {
          frame.current = null;
          measure();
        });
      }}
    >
      <div style={{ height: p.count * p.rowHeight, position: 'relative' }}>{rows}</div>
    </div>
  );
}
