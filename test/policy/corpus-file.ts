// The guardrail statement corpus (test/policy/corpus/default-policy.txt), read once for the
// offline corpus test, the gateway corpus test and the shape-cache test.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CorpusEntry {
  action: string;
  rule: string | null | undefined;
  sql: string;
  line: number;
}

function corpusFile(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const f = path.join(dir, 'test', 'policy', 'corpus', 'default-policy.txt');
    if (fs.existsSync(f)) return f;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('test/policy/corpus/default-policy.txt not found');
    dir = up;
  }
}

export function loadCorpus(): CorpusEntry[] {
  const lines = fs.readFileSync(corpusFile(), 'utf8').split('\n');
  const out: CorpusEntry[] = [];
  let cur: CorpusEntry | null = null;
  let body: string[] = [];
  const flush = () => {
    if (cur) {
      cur.sql = body.join('\n').replace(/\n+$/, '').replace(/^\n+/, '');
      out.push(cur);
    }
    body = [];
  };
  lines.forEach((line, i) => {
    const m = /^### (allow|warn|block|review)(?: (\S+))?\s*$/.exec(line);
    if (m) {
      flush();
      cur = {
        action: m[1],
        rule: m[2] === undefined ? undefined : m[2] === '-' ? null : m[2],
        sql: '',
        line: i + 1,
      };
    } else if (cur) {
      // Section comments between entries start with "# " at column 0 after a blank line.
      if (line.startsWith('# ') || line.startsWith('# =') || line === '#') {
        if (body.length === 0 || body[body.length - 1] === '') return;
      }
      body.push(line);
    }
  });
  flush();
  return out;
}
