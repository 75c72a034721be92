// What calling a user function that already exists on the server does: the units of its body.
// A wrapper created by a DBA (`public.wrapper(p) ... SELECT pg_read_file(p)`) is only a name to
// the analyser of the calling statement; here its definition (pg_get_functiondef, loaded with the
// catalog) is analysed as CREATE FUNCTION through the gateway is, once per catalog snapshot, and
// a unit that calls it also gets what the body does, transitively. Whatever cannot be read fails
// closed as `unknown`: bodies in other languages, missing definitions, chains nested too deeply.
// Extension members are known by name (installing an extension needs review).

import { analyze, opaqueUnit } from './analyze.js';
import { splitName } from './functions.js';
import type { Unit } from './types.js';

/** A user function or procedure as the catalog lists it. */
export interface UserFunction {
  schema: string;
  name: string;
  /**
   * Its language; undefined when the lister knows nothing of the body (no expansion: only for
   * callers that never load bodies, e.g. unit tests of name resolution).
   */
  language?: string;
  /** pg_get_functiondef, for LANGUAGE sql / plpgsql functions that are not extension members. */
  definition?: string | null;
  /** A member of an extension (pg_depend deptype 'e'): known by name, its body is not expanded. */
  extension?: boolean;
}

/** How many user functions deep a call chain is followed before it counts as unknown. */
export const MAX_CALL_DEPTH = 16;

const ANALYSABLE = new Set(['sql', 'plpgsql']);

/** The units a definition's body runs when the function is called (via starts with `function s.f`). */
function definitionUnits(key: string, definition: string): Unit[] {
  const st = analyze(definition).statements;
  if (st.length !== 1 || st[0].kind === 'unparseable')
    return [
      opaqueUnit(`function ${key}`, `the definition of ${key} cannot be analysed`, [`function ${key}`]),
    ];
  const [create, ...rest] = st[0].units;
  const label = create.command.replace(
    /^CREATE (FUNCTION|PROCEDURE) /,
    (_, w: string) => `${w.toLowerCase()} `,
  );
  const out: Unit[] = [];
  // Parameter defaults (walked into the CREATE unit) are evaluated by calls that omit them.
  if (create.functions.length > 0 || (create.operators?.length ?? 0) > 0 || (create.casts?.length ?? 0) > 0)
    out.push({
      ...create,
      kind: 'select',
      command: 'parameter defaults',
      writes: false,
      relations: [],
      targets: [],
      where: null,
      via: [label],
    });
  // The body (and SET clauses) sit under `function s.f`; units without a via are about the
  // CREATE itself (a built-in override), not about calling it.
  for (const u of rest) {
    if (u.via.length === 0) continue;
    if (u.prepared !== null)
      out.push(opaqueUnit(u.command, `${key} runs a prepared statement the gateway cannot see`, u.via));
    else out.push(u);
  }
  return out;
}

export class FunctionBodies {
  /** `schema.name` -> its overloads. */
  private readonly byName = new Map<string, UserFunction[]>();
  /** `schema.name` of extension members. */
  private readonly members = new Set<string>();
  /** `schema.name` -> what its own bodies run (names resolved, callees not expanded). */
  private readonly own = new Map<string, Unit[]>();
  /** `schema.name` -> everything a call of it runs, callees included. */
  private readonly closures = new Map<string, Unit[]>();

  /** `resolveNames`: a unit with the functions its names, operators and casts run added. */
  constructor(
    functions: Iterable<UserFunction>,
    private readonly resolveNames: (u: Unit) => Unit,
  ) {
    for (const f of functions) {
      const key = `${f.schema}.${f.name}`;
      if (f.extension === true) this.members.add(key);
      if (f.language === undefined || f.extension === true) continue;
      const list = this.byName.get(key);
      if (list === undefined) this.byName.set(key, [f]);
      else list.push(f);
    }
  }

  get size(): number {
    return this.byName.size;
  }

  /** The user functions (`schema.name`) with a body a unit calls (after name resolution). */
  called(u: Unit): string[] {
    const out: string[] = [];
    for (const f of u.functions) {
      const [schema, base] = splitName(f);
      if (schema === null) continue; // resolveNames added `schema.name` for every candidate
      const key = `${schema}.${base}`;
      if (this.byName.has(key) && !out.includes(key)) out.push(key);
    }
    return out;
  }

  /**
   * Units for DDL that renames or moves extension members (`keys`): a member is known by its
   * name only, so under another one it is unknown.
   */
  renamedMembers(keys: readonly string[], via: string[]): Unit[] {
    const out: Unit[] = [];
    for (const key of keys)
      if (this.members.has(key))
        out.push(
          opaqueUnit(
            `function ${key}`,
            `${key} belongs to an extension: known by its name only, it cannot be renamed or moved`,
            via,
          ),
        );
    return out;
  }

  private ownUnits(key: string): Unit[] {
    let units = this.own.get(key);
    if (units !== undefined) return units;
    units = [];
    // Every overload: which one a call picks depends on argument types the gateway does not know.
    for (const f of this.byName.get(key) ?? []) {
      const lang = f.language ?? '';
      if (ANALYSABLE.has(lang) && typeof f.definition === 'string')
        for (const u of definitionUnits(key, f.definition)) units.push(this.resolveNames(u));
      else
        units.push(
          opaqueUnit(
            `function ${key}`,
            ANALYSABLE.has(lang)
              ? `the definition of ${key} is not known`
              : `${key} is in language ${lang}: what it does cannot be known`,
            [`function ${key}`],
          ),
        );
    }
    this.own.set(key, units);
    return units;
  }

  /**
   * Everything a call of `key` runs: its body's units, then those of the user functions they call
   * (breadth first, each function once: a recursive pair adds nothing new the second time), each
   * with the chain of functions it sits in. Chains deeper than MAX_CALL_DEPTH are unknown.
   */
  closure(key: string): Unit[] {
    const hit = this.closures.get(key);
    if (hit !== undefined) return hit;
    const out: Unit[] = [];
    const seen = new Set([key]);
    const queue: { key: string; via: string[]; depth: number }[] = [{ key, via: [], depth: 1 }];
    for (let i = 0; i < queue.length; i++) {
      const at = queue[i];
      for (const own of this.ownUnits(at.key)) {
        const u = at.via.length === 0 ? own : { ...own, via: [...at.via, ...own.via] };
        out.push(u);
        for (const g of this.called(u)) {
          if (seen.has(g)) continue;
          seen.add(g);
          if (at.depth >= MAX_CALL_DEPTH)
            out.push(
              opaqueUnit(
                `function ${g}`,
                `user functions calling each other more than ${MAX_CALL_DEPTH} deep`,
                u.via,
              ),
            );
          else queue.push({ key: g, via: u.via, depth: at.depth + 1 });
        }
      }
    }
    this.closures.set(key, out);
    return out;
  }
}
