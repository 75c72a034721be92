// The policies YAML in Monaco, with the problems as inline markers (squiggles, hover messages,
// F8 to go from one to the next). Loaded lazily: Monaco is large and only this screen needs it.

import { useEffect, useRef } from 'react';
import type { PolicyProblem } from '../../../shared/api.js';
import { monaco } from '../lib/monaco.js';

interface Props {
  value: string;
  onChange(text: string): void;
  problems: readonly PolicyProblem[];
  theme: 'light' | 'dark';
  onSave(): void;
  /** Set to a function that moves the cursor to a line and column. */
  revealRef?: React.RefObject<((line: number, column: number) => void) | null>;
}

export function PolicyEditor(p: Props) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<monaco.editor.IStandaloneCodeEditor | null>(null);
  const latest = useRef(p);
  latest.current = p;

  // biome-ignore lint/correctness/useExhaustiveDependencies: created once; later props go through `latest`
  useEffect(() => {
    if (!host.current) return;
    const model = monaco.editor.createModel(
      p.value,
      'yaml',
      monaco.Uri.parse('inmemory://bastion/policies.yaml'),
    );
    const ed = monaco.editor.create(host.current, {
      model,
      theme: p.theme === 'dark' ? 'bastion-dark' : 'bastion-light',
      automaticLayout: true,
      minimap: { enabled: false },
      fontSize: 13,
      lineHeight: 20,
      tabSize: 2,
      insertSpaces: true,
      scrollBeyondLastLine: false,
      renderWhitespace: 'boundary',
      wordWrap: 'off',
      fixedOverflowWidgets: true,
      ariaLabel: 'Policies (YAML)',
    });
    editor.current = ed;
    const sub = model.onDidChangeContent(() => latest.current.onChange(model.getValue()));
    ed.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyS, () => latest.current.onSave());
    if (p.revealRef) {
      p.revealRef.current = (line, column) => {
        ed.revealLineInCenter(line);
        ed.setPosition({ lineNumber: line, column });
        ed.focus();
      };
    }
    return () => {
      sub.dispose();
      ed.dispose();
      model.dispose();
      editor.current = null;
    };
  }, []);

  // A new text from outside (loaded, reverted): replace the model's, keeping undo.
  useEffect(() => {
    const model = editor.current?.getModel();
    if (!model || model.getValue() === p.value) return;
    model.pushEditOperations([], [{ range: model.getFullModelRange(), text: p.value }], () => null);
  }, [p.value]);

  useEffect(() => {
    const model = editor.current?.getModel();
    if (!model) return;
    monaco.editor.setModelMarkers(
      model,
      'bastion',
      p.problems.map((x) => ({
        severity: x.severity === 'error' ? monaco.MarkerSeverity.Error : monaco.MarkerSeverity.Warning,
        message: x.keyPath ? `${x.message}\n(${x.keyPath})` : x.message,
        source: x.source === 'yaml' ? 'YAML' : x.source === 'schema' ? 'schema' : 'Bastion',
        startLineNumber: x.line,
        startColumn: x.column,
        endLineNumber: x.endLine,
        endColumn: x.endColumn,
      })),
    );
  }, [p.problems]);

  useEffect(() => {
    monaco.editor.setTheme(p.theme === 'dark' ? 'bastion-dark' : 'bastion-light');
  }, [p.theme]);

  return <div className="monaco-host" ref={host} data-testid="policy-editor" />;
}

export default PolicyEditor;
