// Small shared pieces: modal, empty state, pills, copy button, the ticking clock.

import { type ReactNode, useEffect, useRef, useState } from 'react';
import { Check, Copy, X } from './icons.js';

export function Modal(props: {
  title: string;
  subtitle?: string;
  onClose(): void;
  children: ReactNode;
  footer: ReactNode;
  label?: string;
  narrow?: boolean;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const first = ref.current?.querySelector<HTMLElement>('input:not([disabled]), select, textarea, button');
    first?.focus();
  }, []);
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: a click outside the dialog closes it, as Esc does
    <div
      className="backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) props.onClose();
      }}
    >
      <div
        className={`modal${props.narrow ? ' narrow' : ''}`}
        role="dialog"
        aria-modal="true"
        aria-label={props.label ?? props.title}
        ref={ref}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            props.onClose();
          }
        }}
      >
        <div className="modal-head">
          <h2>{props.title}</h2>
          {props.subtitle && <p>{props.subtitle}</p>}
        </div>
        <div className="modal-body">{props.children}</div>
        <div className="modal-foot">{props.footer}</div>
      </div>
    </div>
  );
}

export function Empty(props: { icon: ReactNode; title: string; children?: ReactNode; small?: boolean }) {
  return (
    <div className={`empty${props.small ? ' small' : ''}`}>
      <div className="icon">{props.icon}</div>
      <h2>{props.title}</h2>
      {props.children}
    </div>
  );
}

export function Pill({ kind, children }: { kind: string; children?: ReactNode }) {
  return <span className={`pill ${kind}`}>{children ?? kind}</span>;
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="btn ghost small icon"
      title={label}
      aria-label={label}
      onClick={() => {
        navigator.clipboard?.writeText(text).then(
          () => {
            setDone(true);
            setTimeout(() => setDone(false), 1200);
          },
          () => {},
        );
      }}
    >
      {done ? <Check size={14} /> : <Copy size={14} />}
    </button>
  );
}

export function CloseButton({ onClick, label = 'Close' }: { onClick(): void; label?: string }) {
  return (
    <button
      type="button"
      className="btn ghost icon"
      onClick={onClick}
      aria-label={label}
      title={`${label} (Esc)`}
    >
      <X />
    </button>
  );
}

/** The current time, updated every `ms` while mounted. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** True when a key event comes from a text field (shortcuts should not fire there). */
export function typingIn(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  if (!t) return false;
  return t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName);
}
