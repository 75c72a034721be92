// Where a key path of a YAML document is, for underlining a problem in the policy editor. Shared
// by the core (problems of a saved policy) and the renderer (problems found while typing), so
// that both underline the same place. Pure: no Node, no DOM, only the `yaml` package both use.

import { isMap, isPair, isScalar, isSeq, type LineCounter, type Node } from 'yaml';
import type { PolicyProblem } from './api.js';

/**
 * Where a key path ("default.guardrails[1].action") is: the value it names, else the deepest part
 * of it that exists (an unknown key's own key, a missing key's parent); the last key itself with
 * `onKey` (an unknown key). The range is cut to one line so the editor underlines a line, not a
 * block.
 */
export function locateKeyPath(
  root: Node | null,
  lc: LineCounter,
  keyPath: string,
  text: string,
  onKey = false,
): Pick<PolicyProblem, 'line' | 'column' | 'endLine' | 'endColumn'> {
  const parts = keyPath.match(/[^.[\]]+|\[\d+\]/g) ?? [];
  const last = parts.length - 1;
  let node: unknown = root;
  let range: readonly number[] | undefined = root?.range ?? undefined;
  for (const [n, part] of parts.entries()) {
    if (part.startsWith('[') && isSeq(node)) {
      const item = node.items[Number(part.slice(1, -1))] as Node | undefined;
      if (!item) break;
      range = item.range ?? range;
      node = item;
    } else if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === part);
      if (!pair || !isPair(pair)) break;
      const key = pair.key as Node;
      const value = pair.value as Node | null;
      // An unknown key is underlined itself; otherwise its value (or the key, for an empty value).
      range = (value?.range && !(onKey && n === last) ? value.range : key.range) ?? range;
      node = value;
    } else break;
  }
  const start = range ? range[0] : 0;
  let end = range ? Math.max(range[1], start + 1) : 1;
  const nl = text.indexOf('\n', start);
  if (nl >= 0 && nl < end) end = Math.max(nl, start + 1);
  const from = lc.linePos(start);
  const to = lc.linePos(Math.min(end, text.length));
  const empty = to.line === from.line && to.col <= from.col;
  return { line: from.line, column: from.col, endLine: to.line, endColumn: empty ? from.col + 1 : to.col };
}
