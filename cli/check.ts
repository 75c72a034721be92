// `bastion check [--config FILE] [--identity NAME] (--sql TEXT | --file FILE)`: guardrail dry-run.
// One JSON object per statement on stdout: {"sql", "action", "rule", "reason"}; exit 0.
// Without --config (and no ./bastion.yaml) the built-in default policy decides.

import { existsSync, readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { ConfigError, loadConfig } from '../proxy/config/load.js';
import { analyzeEach } from '../proxy/policy/analyze.js';
import { initPolicyEngine } from '../proxy/policy/parser.js';
import {
  compilePolicies,
  DEFAULT_POLICY,
  decideStatement,
  type Policy,
  PolicyError,
  policyFor,
} from '../proxy/policy/policy.js';
import { PreparedRegistry } from '../proxy/policy/prepared.js';
import { parseArgs, str, UsageError } from './args.js';

const USAGE = 'usage: bastion check [--config FILE] [--identity NAME] (--sql TEXT | --file FILE)';

/** The line of a key path ("policies.default.guardrails[1].action") in a YAML file, or of its closest existing parent. */
export function lineOfKeyPath(text: string, keyPath: string): number {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const parts = keyPath.match(/[^.[\]]+|\[\d+\]/g) ?? [];
  let node: unknown = doc.contents;
  let line = 1;
  for (const part of parts) {
    if (part.startsWith('[') && isSeq(node)) {
      const item = node.items[Number(part.slice(1, -1))] as Node | undefined;
      if (!item) break;
      if (item.range) line = lc.linePos(item.range[0]).line;
      node = item;
    } else if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === part);
      if (!pair || !isPair(pair)) break;
      const r = (pair.key as Node).range;
      if (r) line = lc.linePos(r[0]).line;
      node = pair.value;
    } else break;
  }
  return line;
}

function loadPolicies(file: string): { policies: Map<string, Policy>; identities: Map<string, string> } {
  const config = loadConfig(file);
  try {
    return {
      policies: compilePolicies(config.policies),
      identities: new Map(config.identities.map((i) => [i.name, i.policy])),
    };
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    let line = 1;
    try {
      line = lineOfKeyPath(readFileSync(file, 'utf8'), e.keyPath);
    } catch {
      // Keep line 1.
    }
    throw new ConfigError(`${file}:${line}: ${e.keyPath}: ${e.problem}`);
  }
}

export async function checkCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { config: 'string', identity: 'string', sql: 'string', file: 'string' });
  if (p.positional.length > 0) throw new UsageError(`unexpected argument "${p.positional[0]}" (${USAGE})`);
  const sqlArg = str(p, 'sql');
  const fileArg = str(p, 'file');
  if ((sqlArg === undefined) === (fileArg === undefined)) {
    throw new UsageError(`check needs exactly one of --sql TEXT or --file FILE (${USAGE})`);
  }
  let text: string;
  if (sqlArg !== undefined) text = sqlArg;
  else {
    try {
      text = readFileSync(fileArg === '-' ? 0 : fileArg!, 'utf8');
    } catch (e) {
      throw new UsageError(
        `cannot read ${fileArg}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  }

  const configFile = str(p, 'config') ?? (existsSync('bastion.yaml') ? 'bastion.yaml' : undefined);
  const identity = str(p, 'identity') ?? '';
  let policy: Policy = DEFAULT_POLICY;
  if (configFile !== undefined) {
    const { policies, identities } = loadPolicies(configFile);
    let name = 'default';
    if (identity !== '') {
      const configured = identities.get(identity);
      if (configured === undefined) {
        const known = [...identities.keys()];
        throw new UsageError(
          `no identity "${identity}" in ${configFile}${known.length ? ` (configured: ${known.join(', ')})` : ''}`,
        );
      }
      name = configured;
    }
    policy = policyFor(policies, name);
  }

  await initPolicyEngine();
  const prepared = new PreparedRegistry();
  const lines: string[] = [];
  for (const st of analyzeEach(text)) {
    const d = decideStatement(st, policy, { identity, prepared });
    lines.push(JSON.stringify({ sql: st.sql, action: d.action, rule: d.rule, reason: d.reason }));
  }
  if (lines.length > 0 && !process.stdout.write(`${lines.join('\n')}\n`)) {
    await new Promise((r) => process.stdout.once('drain', r));
  }
  return 0;
}
