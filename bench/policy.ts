// Guardrail decisions per second: uncached (parse + analyse + decide every time) and cached
// (the analysis comes from the AnalysisCache, as for an agent repeating its queries), over the
// policy corpus and over a typical agent query. Run: node dist/bench/policy.js [seconds per case]

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyze, statedReason } from '../proxy/policy/analyze.js';
import { AnalysisCache } from '../proxy/policy/cache.js';
import { initPolicyEngine } from '../proxy/policy/parser.js';
import { DEFAULT_POLICY, decide } from '../proxy/policy/policy.js';
import { PreparedRegistry } from '../proxy/policy/prepared.js';
import { applyGatewayProcessSettings } from '../proxy/runtime.js';

const SECONDS = Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 2);

function corpusStatements(): string[] {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const f = path.join(dir, 'test', 'policy', 'corpus', 'default-policy.txt');
    if (fs.existsSync(f)) {
      return fs
        .readFileSync(f, 'utf8')
        .split(/^### .*$/m)
        .slice(1)
        .map((s) => s.replace(/^(#.*\n|\n)+/gm, '').trim())
        .filter((s) => s.length > 0);
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('corpus not found');
    dir = up;
  }
}

function measure(name: string, texts: string[], once: (sql: string) => void): void {
  // Warm up.
  for (let i = 0; i < 2000; i++) once(texts[i % texts.length]);
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(SECONDS * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 500; i++) once(texts[(n + i) % texts.length]);
    n += 500;
    now = process.hrtime.bigint();
  }
  const secs = Number(now - start) / 1e9;
  const rate = n / secs;
  console.log(
    `${name.padEnd(44)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} decisions/s  ${(1e6 / rate).toFixed(2).padStart(8)} µs each`,
  );
}

// The parser as the gateway runs it: with the gateway's process settings (its WebAssembly on the
// baseline compiler).
applyGatewayProcessSettings({ reexec: false });
await initPolicyEngine();
const corpus = corpusStatements();
const agentQuery = [
  "/* reason: weekly report */ SELECT c.id, c.name, sum(o.total) AS revenue FROM public.customers c JOIN orders o ON o.customer_id = c.id WHERE o.created_at >= now() - interval '7 days' AND c.status = 'active' GROUP BY c.id, c.name ORDER BY revenue DESC LIMIT 20",
];
const ctx = () => ({ identity: 'agent-1', prepared: new PreparedRegistry() });
const uncached = (sql: string) => {
  decide(analyze(sql), DEFAULT_POLICY, ctx(), statedReason(sql));
};
const cache = new AnalysisCache();
const cached = (sql: string) => {
  decide(cache.analyze(sql), DEFAULT_POLICY, ctx(), statedReason(sql));
};

console.log(
  `policy decisions, built-in default policy, ${corpus.length} corpus statements, ${SECONDS}s per case`,
);
measure('corpus, uncached (parse + analyse + decide)', corpus, uncached);
measure('corpus, cached (cache lookup + decide)', corpus, cached);
measure('agent SELECT, uncached', agentQuery, uncached);
measure('agent SELECT, cached', agentQuery, cached);
console.log(`cache: ${cache.size} entries, ${cache.hits} hits, ${cache.misses} misses`);
