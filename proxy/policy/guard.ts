// One session's guardrail state: its policy and identity, its prepared statements and the reason
// the client stated with `SET bastion.reason`. Synchronous and socket-free: the session calls it
// per Query, Parse, Bind/Execute, Close and FunctionCall and acts on the decision.

import { analyzeFunctionCall, opaqueUnit, statedReason } from './analyze.js';
import { type AnalysisCache, sharedAnalysisCache } from './cache.js';
import { type DecideContext, decide, type Policy } from './policy.js';
import { PreparedRegistry } from './prepared.js';
import type { QueryDecision, StatementAnalysis } from './types.js';

export interface GuardDecision extends QueryDecision {
  /** The reason to show approvers: the statement's leading comment, else the session's SET bastion.reason. */
  clientReason: string | null;
}

export class SessionGuard {
  readonly prepared = new PreparedRegistry();
  /** From `SET bastion.reason = '...'`; null until the client sets one (or after RESET). */
  sessionReason: string | null = null;
  private readonly ctx: DecideContext;

  constructor(
    readonly policy: Policy,
    readonly identity: string,
    private readonly cache: AnalysisCache = sharedAnalysisCache,
  ) {
    this.ctx = { identity, prepared: this.prepared };
  }

  private finish(d: QueryDecision): GuardDecision {
    if (d.setReason !== undefined) this.sessionReason = d.setReason;
    return { ...d, clientReason: d.statedReason ?? this.sessionReason };
  }

  /** A simple Query ('Q'): every statement in it, decided as a whole. */
  query(sql: string): GuardDecision {
    return this.finish(decide(this.cache.analyze(sql), this.policy, this.ctx, statedReason(sql)));
  }

  /**
   * A Parse ('P'): decides the statement text and remembers it under `name` ('' = unnamed), so
   * Bind/Execute and SQL `EXECUTE name` are decided on it. Refuse a blocked Parse at once.
   */
  parse(name: string, sql: string): GuardDecision {
    const analysis = this.cache.analyze(sql);
    const d = decide(analysis, this.policy, this.ctx, statedReason(sql));
    this.prepared.set(name, { sql: analysis.sql, units: analysis.statements.flatMap((s) => s.units) });
    return this.finish(d);
  }

  /**
   * Execute ('E') of a portal bound (Bind 'B') from prepared statement `name`: the decision on
   * what that statement runs. An unknown name is `unknown` (blocked unless a guardrail allows it).
   */
  execute(name: string): GuardDecision {
    const entry = this.prepared.get(name);
    const units = entry?.units.length
      ? entry.units
      : [opaqueUnit(`EXECUTE ${name}`, `prepared statement "${name}" was not seen by the gateway`)];
    const st: StatementAnalysis = {
      sql: entry?.sql ?? `EXECUTE ${name}`,
      offset: 0,
      kind: units[0].kind,
      command: units[0].command,
      writes: units.some((u) => u.writes),
      units,
    };
    return this.finish(decide({ sql: st.sql, statements: [st], error: null }, this.policy, this.ctx, null));
  }

  /** Close ('C') of a prepared statement. */
  close(name: string): void {
    this.prepared.delete(name);
  }

  /** A FunctionCall ('F') by function OID. */
  functionCall(oid: number): GuardDecision {
    return this.finish(decide(analyzeFunctionCall(oid), this.policy, this.ctx, null));
  }
}
