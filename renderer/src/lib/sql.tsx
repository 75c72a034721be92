// A small SQL highlighter for the statement views: keywords, strings, numbers, comments.
// Not a parser; it only colours tokens, so anything it does not know stays plain text.

import type { ReactNode } from 'react';

const KEYWORDS = new Set(
  (
    'select from where and or not insert into values update set delete returning join left right inner outer full ' +
    'cross on using group by order having limit offset as distinct union all except intersect create table drop ' +
    'alter index view truncate grant revoke begin commit rollback with recursive case when then else end null is ' +
    'in exists between like ilike true false asc desc primary key references default copy to stdin stdout do ' +
    'function returns language explain analyze vacuum lateral filter over partition window cascade if role user ' +
    'schema sequence trigger prepare execute deallocate listen notify unlock lock for share nowait skip locked'
  ).split(' '),
);

const TOKEN =
  /(--[^\n]*|\/\*[\s\S]*?\*\/)|('(?:[^']|'')*'?)|("(?:[^"]|"")*"?)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_$]*)/g;

export function highlightSql(sql: string): ReactNode[] {
  const out: ReactNode[] = [];
  let last = 0;
  let k = 0;
  for (const m of sql.matchAll(TOKEN)) {
    const at = m.index ?? 0;
    if (at > last) out.push(sql.slice(last, at));
    const [text, comment, str, , num, word] = m;
    if (comment)
      out.push(
        <span key={k++} className="tok-cmt">
          {text}
        </span>,
      );
    else if (str)
      out.push(
        <span key={k++} className="tok-str">
          {text}
        </span>,
      );
    else if (num)
      out.push(
        <span key={k++} className="tok-num">
          {text}
        </span>,
      );
    else if (word && KEYWORDS.has(word.toLowerCase()))
      out.push(
        <span key={k++} className="tok-kw">
          {text}
        </span>,
      );
    else out.push(text);
    last = at + text.length;
  }
  if (last < sql.length) out.push(sql.slice(last));
  return out;
}
