// One request's view of the session's prepared statements, for readers that decide the request
// before the server has run it (the guardrails, masking's lineage): the protocol model's
// statements, read through `base`, under the request's own PREPAREs and DEALLOCATEs, which the
// model itself applies only once the server confirms them.

export class PreparedOverlay<T> {
  private readonly own = new Map<string, T | null>();
  private cleared = false;
  /** The request's changes, in statement order (name null: DEALLOCATE ALL / DISCARD ALL). */
  readonly changes: { name: string | null; value: T | null }[] = [];

  constructor(private readonly base: (name: string) => T | undefined) {}

  /** Forgets the last request's changes. */
  reset(): void {
    this.own.clear();
    this.cleared = false;
    this.changes.length = 0;
  }

  get(name: string): T | undefined {
    const own = this.own.get(name);
    if (own !== undefined) return own ?? undefined;
    return this.cleared ? undefined : this.base(name);
  }
  set(name: string, value: T): void {
    this.own.set(name, value);
    this.changes.push({ name, value });
  }
  delete(name: string): void {
    this.own.set(name, null);
    this.changes.push({ name, value: null });
  }
  clear(): void {
    this.own.clear();
    this.cleared = true;
    this.changes.push({ name: null, value: null });
  }
}
