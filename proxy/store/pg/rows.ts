// Rows of the shared store's projections -> the shapes the API and reports use.

import type { PolicyChange } from '../../../shared/api.js';
import { type Row, rowToPolicyChange as sharedRowToPolicyChange } from '../rows.js';

export { type Row, rowToApproval, rowToChainedRecord, rowToSession, rowToStatement } from '../rows.js';

/** The shared store names the policy change id `pid`; otherwise its rows read as the SQLite store's. */
export function rowToPolicyChange(r: Row): PolicyChange {
  return sharedRowToPolicyChange({ ...r, id: r.pid });
}

const TOKEN = /[\p{L}\p{N}\p{Co}]+/gu;
const ENDS_IN_TOKEN = /[\p{L}\p{N}\p{Co}]$/u;

/**
 * A tsquery (config 'simple') from what a person typed, with the SQLite store's meaning: every
 * word must appear (a word such as `public.customers` is a phrase of its tokens) and the last word
 * may be the start of a longer one. Null when there is nothing to search for. Tokens hold only
 * letters and digits, so quoting them needs no escaping.
 */
export function tsQuery(text: string): string | null {
  const words = text.split(/\s+/).filter((w) => w !== '');
  const parts: string[] = [];
  words.forEach((w, i) => {
    const tokens = w.match(TOKEN);
    if (!tokens) return;
    const last = tokens[tokens.length - 1];
    const prefix = i === words.length - 1 && ENDS_IN_TOKEN.test(w) && last.length >= 2;
    const lexemes = tokens.map(
      (t, j) => `'${t.toLowerCase()}'${prefix && j === tokens.length - 1 ? ':*' : ''}`,
    );
    parts.push(lexemes.length > 1 ? `(${lexemes.join(' <-> ')})` : lexemes[0]);
  });
  return parts.length > 0 ? parts.join(' & ') : null;
}
