// One session's guardrail state: its policy and identity, its prepared statements and the reason
// the client stated with `SET bastion.reason`. Synchronous and socket-free: the session calls it
// per Query, Parse and FunctionCall and acts on the decision.
//
// In a live session the prepared statements are the protocol model's (session/protocol-state.ts):
// `EXECUTE name` is decided on the statement the server will run under that name, which changes
// only when the server confirms a PREPARE, Parse or DEALLOCATE. A decision's own PREPARE and
// DEALLOCATE go to an overlay that lives for that decision only, and come back as effects for the
// model to apply when the server confirms them. Without a model (`bastion check`, unit tests) a
// plain registry records them in statement order.

import { PreparedOverlay } from '../session/prepared-overlay.js';
import type { PreparedStatement, ProtocolState, SqlEffect } from '../session/protocol-state.js';
import { PreparedStatement as Statement } from '../session/protocol-state.js';
import { opaqueUnit, statedReason } from './analyze.js';
import { type AnalysisCache, sharedAnalysisCache } from './cache.js';
import { analyzeFunctionCall, type FunctionCallArgs } from './function-call.js';
import { type DecideContext, decide, type Policy } from './policy.js';
import { type PreparedEntry, PreparedRegistry } from './prepared.js';
import type { CallSnapshot } from './resolution.js';
import type { Analysis, QueryDecision, StatementAnalysis, Unit, Verdict } from './types.js';

export interface GuardDecision extends QueryDecision {
  /** The reason to show approvers: the statement's leading comment, else the session's SET bastion.reason. */
  clientReason: string | null;
  /** Per statement (CommandComplete order): what it does to prepared statements once it runs. */
  effects?: SqlEffect[];
  /** For a Parse: what its statement runs (remember it with `remember` once the model has it). */
  entry?: PreparedEntry;
}

/** One statement of `units`, as `decide` takes it. */
function single(sql: string, units: Unit[]): Analysis {
  const st: StatementAnalysis = {
    sql,
    offset: 0,
    kind: units[0]?.kind ?? 'unknown',
    command: units[0]?.command ?? sql,
    writes: units.some((u) => u.writes),
    units,
  };
  return { sql, statements: [st], error: null };
}

export class SessionGuard {
  /** Without a protocol model: PREPARE / DEALLOCATE as decided, in order. */
  readonly prepared = new PreparedRegistry();
  /** From `SET bastion.reason = '...'`; null until the client sets one (or after RESET). */
  sessionReason: string | null = null;
  private protocol: ProtocolState | null = null;
  private readonly entries = new WeakMap<PreparedStatement, PreparedEntry>();
  /** Decisions of `run`, per statement, with the policy they were made under. */
  private readonly runs = new WeakMap<
    PreparedEntry,
    { policy: Policy; calls: CallSnapshot | null | undefined; d: QueryDecision }
  >();
  /** The live catalog's snapshot of what names run (unset: none, as in `bastion check`). */
  private calls: (() => CallSnapshot | null) | undefined;

  constructor(
    private current: Policy,
    readonly identity: string,
    private readonly cache: AnalysisCache = sharedAnalysisCache,
  ) {}

  /** The policy the session's statements are decided under. */
  get policy(): Policy {
    return this.current;
  }

  /**
   * The policies were replaced: statements from now on are decided under `policy`. Prepared
   * statements keep what they run (their analysis); every Bind and Execute is decided anew.
   */
  setPolicy(policy: Policy): void {
    this.current = policy;
  }

  /** Reads prepared statements from the session's protocol model from now on. */
  attach(protocol: ProtocolState): void {
    this.protocol = protocol;
  }

  /** Resolves calls through the upstream's live catalog from now on (null: not loaded, fail closed). */
  resolveWith(calls: () => CallSnapshot | null): void {
    this.calls = calls;
  }

  /** A refusal of the session's own, before the policy (see DecideContext.refuse). */
  protected refuseUnit: ((u: Unit) => Verdict | null) | undefined;

  private context(prepared: DecideContext['prepared']): DecideContext {
    const ctx: DecideContext = { identity: this.identity, prepared };
    if (this.refuseUnit !== undefined) ctx.refuse = this.refuseUnit;
    if (this.calls !== undefined) ctx.calls = this.calls();
    return ctx;
  }

  /** What a prepared statement the model now holds runs (from the Parse's decision). */
  remember(statement: PreparedStatement, entry: PreparedEntry): void {
    this.entries.set(statement, entry);
  }

  private finish(d: QueryDecision): GuardDecision {
    if (d.setReason !== undefined) this.sessionReason = d.setReason;
    return { ...d, clientReason: d.statedReason ?? this.sessionReason };
  }

  /** Decides `analysis`; with a model, also returns its statements' effects on prepared statements. */
  private decideAnalysis(analysis: Analysis, stated: string | null): GuardDecision {
    if (this.protocol === null) {
      return this.finish(decide(analysis, this.policy, this.context(this.prepared), stated));
    }
    const protocol = this.protocol;
    // Resolving throws MustWaitForServer when the server's answer to an earlier batch decides it.
    const view = new PreparedOverlay<PreparedEntry>((name) => {
      const stmt = protocol.resolveStatement(name);
      return stmt === null ? undefined : this.entries.get(stmt);
    });
    const d = this.finish(decide(analysis, this.policy, this.context(view), stated));
    // decide records exactly one change per statement that prepares or deallocates, in order.
    const effects: SqlEffect[] = [];
    let next = 0;
    analysis.statements.forEach((st, i) => {
      if (st.prepares === undefined && st.deallocates === undefined) return;
      const change = view.changes[next++];
      if (change === undefined) return;
      if (change.value !== null && change.name !== null) {
        const stmt = new Statement(change.name, st.sql, 'prepare');
        this.entries.set(stmt, change.value);
        effects[i] = { prepares: stmt };
      } else effects[i] = { deallocates: change.name };
    });
    d.effects = effects;
    return d;
  }

  /** A simple Query ('Q'): every statement in it, decided as a whole. */
  query(sql: string): GuardDecision {
    return this.decideAnalysis(this.cache.analyze(sql), statedReason(sql));
  }

  /**
   * A Parse ('P'): decides the statement text. Without a model it is remembered under `name` at
   * once; with one, the session remembers `entry` for the model's statement.
   */
  parse(name: string, sql: string): GuardDecision {
    const analysis = this.cache.analyze(sql);
    const d = this.decideAnalysis(analysis, statedReason(sql));
    const entry = { sql: analysis.sql, units: analysis.statements.flatMap((s) => s.units) };
    if (this.protocol === null) this.prepared.set(name, entry);
    d.entry = entry;
    return d;
  }

  /**
   * A Bind or Execute of the model's prepared `statement`: the decision on what one execution of
   * it runs, under the policy in force now. A Parse runs nothing, so its decision (under the
   * policy of its time) covers no execution: every Bind and Execute is decided again here. Null
   * when there is nothing to decide: the Bind named a statement the server does not have either,
   * and refuses.
   */
  run(statement: PreparedStatement | null): GuardDecision | null {
    if (statement === null) return null;
    const entry = this.entries.get(statement);
    if (entry === undefined) {
      // Every statement the model holds came through a Parse or PREPARE decided here.
      const u = opaqueUnit(
        `EXECUTE ${statement.name}`,
        `prepared statement "${statement.name}" was not seen by the gateway`,
      );
      return this.finish(decide(single(u.command, [u]), this.policy, this.context(undefined), null));
    }
    // Decisions on a statement that names no other (no SQL EXECUTE inside) depend on the policy
    // and the catalog snapshot alone: cached per statement, so a prepared statement run many
    // times costs one decision until either changes.
    const nested = entry.units.some((u) => u.prepared !== null);
    const cached = nested ? undefined : this.runs.get(entry);
    const calls = this.calls?.();
    let d: QueryDecision;
    if (cached !== undefined && cached.policy === this.policy && cached.calls === calls) d = cached.d;
    else {
      const protocol = this.protocol;
      const prepared =
        protocol === null
          ? this.prepared
          : new PreparedOverlay<PreparedEntry>((name) => {
              const stmt = protocol.resolveStatement(name);
              return stmt === null ? undefined : this.entries.get(stmt);
            });
      const ctx: DecideContext = { identity: this.identity, prepared };
      if (calls !== undefined) ctx.calls = calls;
      if (this.refuseUnit !== undefined) ctx.refuse = this.refuseUnit;
      d = decide(single(entry.sql, entry.units), this.policy, ctx, null);
      if (!nested) this.runs.set(entry, { policy: this.policy, calls, d });
    }
    if (d.action === 'allow') return { ...d, clientReason: null };
    return { ...d, clientReason: statedReason(entry.sql) ?? this.sessionReason };
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
    return this.finish(
      decide({ sql: st.sql, statements: [st], error: null }, this.policy, this.context(this.prepared), null),
    );
  }

  /** Close ('C') of a prepared statement (without a model; the model learns it from the server). */
  close(name: string): void {
    this.prepared.delete(name);
  }

  /** A FunctionCall ('F') by function OID: decided as `SELECT f(args)` with its arguments' values. */
  functionCall(oid: number, args?: FunctionCallArgs): GuardDecision {
    return this.decideAnalysis(analyzeFunctionCall(oid, args), null);
  }
}
