// Monaco, as the policy editor uses it: the editor core with the few contributions it needs
// (hover for problem messages, find, folding, go to next problem, comments, clipboard), YAML
// colouring, themes that match the app's, and its worker. Loaded only with the policy editor.

import * as monaco from 'monaco-editor/editor.js';
import 'monaco-editor/features/codicon/register.js';
import 'monaco-editor/features/hover/register.js';
import 'monaco-editor/features/find/register.js';
import 'monaco-editor/features/gotoError/register.js';
import 'monaco-editor/features/folding/register.js';
import 'monaco-editor/features/bracketMatching/register.js';
import 'monaco-editor/features/clipboard/register.js';
import 'monaco-editor/features/comment/register.js';
import 'monaco-editor/features/contextmenu/register.js';
import 'monaco-editor/features/indentation/register.js';
import 'monaco-editor/features/linesOperations/register.js';
import 'monaco-editor/features/wordHighlighter/register.js';
import 'monaco-editor/languages/definitions/yaml/register.js';
import EditorWorker from 'monaco-editor/editor/editor.worker.js?worker';

declare global {
  interface Window {
    MonacoEnvironment?: { getWorker(workerId: string, label: string): Worker };
  }
}

window.MonacoEnvironment = { getWorker: () => new EditorWorker() };

monaco.editor.defineTheme('bastion-dark', {
  base: 'vs-dark',
  inherit: true,
  rules: [
    { token: 'type', foreground: '7c8cff' },
    { token: 'string', foreground: 'c3e88d' },
    { token: 'number', foreground: 'f78c6c' },
    { token: 'keyword', foreground: 'c792ea' },
    { token: 'comment', foreground: '637089', fontStyle: 'italic' },
  ],
  colors: {
    'editor.background': '#0a0c11',
    'editor.lineHighlightBackground': '#141821',
    'editorLineNumber.foreground': '#454d60',
    'editorGutter.background': '#0a0c11',
  },
});

monaco.editor.defineTheme('bastion-light', {
  base: 'vs',
  inherit: true,
  rules: [
    { token: 'type', foreground: '4f5fe8' },
    { token: 'string', foreground: '16803c' },
    { token: 'number', foreground: 'c2410c' },
    { token: 'keyword', foreground: '7c3aed' },
    { token: 'comment', foreground: '8e96a8', fontStyle: 'italic' },
  ],
  colors: {
    'editor.background': '#ffffff',
    'editor.lineHighlightBackground': '#f6f7fb',
  },
});

export { monaco };
