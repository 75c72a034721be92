// The pieces of the app's edit dialogs: a modal around a form that saves on Enter or with its
// primary button and shows why a save failed, and a labelled text input on the form's grid.

import { type InputHTMLAttributes, type ReactNode, useState } from 'react';
import { Modal } from './ui.js';

export function FormModal(props: {
  title: string;
  subtitle: string;
  /** The primary button's text ("Save connection"). */
  saveLabel: string;
  /** Saves (and closes the dialog); throws to show its message in the form, the dialog staying open. */
  onSave(): Promise<void>;
  onClose(): void;
  /** Buttons at the start of the footer, before Cancel and the primary button. */
  footerStart?: ReactNode;
  children: ReactNode;
}) {
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const save = async () => {
    setSaving(true);
    setError(null);
    try {
      await props.onSave();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setSaving(false);
    }
  };
  return (
    <Modal
      title={props.title}
      subtitle={props.subtitle}
      onClose={props.onClose}
      footer={
        <>
          {props.footerStart}
          <span className="grow" />
          <button type="button" className="btn ghost" onClick={props.onClose}>
            Cancel
          </button>
          <button type="button" className="btn primary" disabled={saving} onClick={save}>
            {saving ? 'Saving…' : props.saveLabel}
          </button>
        </>
      }
    >
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        {props.children}
        {error && (
          <div className="form-error" role="alert">
            {error}
          </div>
        )}
        <button type="submit" hidden />
      </form>
    </Modal>
  );
}

/** A text input with its label; `span`: the grid columns it takes (of 6; none: the whole row). */
export function TextField({
  id,
  label,
  span,
  mono,
  value,
  onValue,
  ...input
}: {
  id: string;
  label: string;
  span?: 2 | 3 | 4;
  mono?: boolean;
  value: string;
  onValue(v: string): void;
} & Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'className' | 'value' | 'onChange'>) {
  return (
    <div className={span ? `field s${span}` : 'field'}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        className={mono ? 'input mono' : 'input'}
        value={value}
        onChange={(e) => onValue(e.target.value)}
        {...input}
      />
    </div>
  );
}
