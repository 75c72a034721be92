// Automatic PII column classification, per connection's upstream (issue 18 item 5): runs the
// sampler (masking/classify.ts) on a connection of its own to the upstream (never a client's, and
// not the catalog's, so sessions' catalog loads do not queue behind sampling), keeps the results
// and the operator's decisions in the store (store/classifications.ts), and turns them into the
// `auto-<detector>` column rules of every policy that classifies. The core recompiles masking and
// reloads the catalog of a connection whenever its rules change (onChange).

import type { UpstreamConfig } from './config/types.js';
import {
  autoRules,
  type ClassDecision,
  classifyColumns,
  columnKey,
  sampleUpstream,
} from './masking/classify.js';
import type { MaskingRule } from './masking/rules.js';
import type { Policy } from './policy/policy.js';
import { CatalogLink } from './session/catalog-link.js';
import type { Logger } from './session/session.js';
import { ClassificationStore, type StoredClass } from './store/classifications.js';

/** At most one run per connection this often when the catalog keeps changing. */
export const RERUN_MIN_INTERVAL_MS = 30_000;

/** How long a connection's first sessions wait for its first classification before going on. */
export const FIRST_RUN_WAIT_MS = 15_000;

export interface RunStatus {
  running: boolean;
  /** When the last run finished (ms), null before any. */
  lastRun: number | null;
  /** Why the last run failed (never a value), null when it did not. */
  error: string | null;
}

interface PerConnection {
  rows: StoredClass[];
  running: Promise<void> | null;
  /** The first run since the gateway started (sessions wait for it, bounded). */
  first: Promise<void> | null;
  status: RunStatus;
  /** A run asked for by a catalog change, waiting for the interval (or the current run). */
  rerun: NodeJS.Timeout | null;
}

export class Classifier {
  private readonly store: ClassificationStore;
  private readonly conns = new Map<string, PerConnection>();
  private closed = false;

  constructor(
    storePath: string,
    private readonly upstream: (connection: string) => UpstreamConfig,
    private readonly log: Logger,
    /** Called when a connection's rules changed (new findings or a decision). */
    private readonly onChange: (connection: string) => void,
  ) {
    this.store = new ClassificationStore(storePath);
  }

  private of(connection: string): PerConnection {
    let c = this.conns.get(connection);
    if (c === undefined) {
      c = {
        rows: this.store.list(connection),
        running: null,
        first: null,
        status: { running: false, lastRun: null, error: null },
        rerun: null,
      };
      this.conns.set(connection, c);
    }
    return c;
  }

  /** The auto rules a classifying policy gets on this connection (none for a policy that does not). */
  rulesFor(policy: Policy, connection: string): MaskingRule[] {
    if (!policy.classify) return [];
    const c = this.of(connection);
    if (c.rows.length === 0) return [];
    const decisions = new Map<string, ClassDecision>(c.rows.map((r) => [r.key, r]));
    return autoRules(c.rows, decisions, policy.masking);
  }

  /**
   * Starts the connection's first classification (once per gateway run) and resolves when it
   * ended or after FIRST_RUN_WAIT_MS, whichever comes first; never rejects.
   */
  firstRun(connection: string): Promise<void> {
    const c = this.of(connection);
    // Again after a failed first run (the upstream was down): the next connect retries.
    if (c.first === null || (c.status.error !== null && c.running === null))
      c.first = this.run(connection).catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise<void>((r) => {
      timer = setTimeout(r, FIRST_RUN_WAIT_MS);
      timer.unref();
    });
    return Promise.race([c.first, cap]).finally(() => clearTimeout(timer));
  }

  /** Samples and classifies the connection's upstream now (joins a run already going). */
  run(connection: string): Promise<void> {
    const c = this.of(connection);
    if (c.running) return c.running;
    c.status = { ...c.status, running: true };
    const link = new CatalogLink(this.upstream(connection));
    const started = Date.now();
    c.running = (async () => {
      try {
        let skipped = 0;
        const sampled = await sampleUpstream(link.run, { onTableError: () => skipped++ });
        const found = classifyColumns(sampled);
        if (this.closed) return;
        this.store.replaceRun(connection, found, Date.now());
        const before = JSON.stringify(c.rows.map(ruleShape));
        c.rows = this.store.list(connection);
        c.status = { running: false, lastRun: Date.now(), error: null };
        // Counts only: the values never leave the sampler.
        this.log.info(
          `classification of "${connection}": ${sampled.length} column(s) sampled, ${found.length} hold PII` +
            `${skipped ? `, ${skipped} table(s) skipped` : ''} (${Date.now() - started} ms)`,
        );
        if (JSON.stringify(c.rows.map(ruleShape)) !== before) this.onChange(connection);
      } catch (e) {
        c.status = { running: false, lastRun: Date.now(), error: (e as Error).message };
        this.log.warn(`classification of "${connection}" failed: ${(e as Error).message}`);
        throw e;
      } finally {
        link.close();
        c.running = null;
      }
    })();
    return c.running;
  }

  /**
   * The upstream's catalog changed (tables made, renamed, dropped, outside the gateway too): run
   * again, at most once per RERUN_MIN_INTERVAL_MS, after the run going on.
   */
  catalogChanged(connection: string): void {
    const c = this.of(connection);
    if (c.rerun !== null || c.first === null) return;
    const since = c.status.lastRun === null ? 0 : Date.now() - c.status.lastRun;
    const wait = c.running ? RERUN_MIN_INTERVAL_MS : Math.max(0, RERUN_MIN_INTERVAL_MS - since);
    c.rerun = setTimeout(() => {
      c.rerun = null;
      if (this.closed) return;
      this.run(connection).catch(() => {});
    }, wait);
    c.rerun.unref();
  }

  status(connection: string): RunStatus {
    return { ...this.of(connection).status };
  }

  list(connection?: string): StoredClass[] {
    if (connection !== undefined) return [...this.of(connection).rows];
    return this.store.list();
  }

  /** Records an operator's decision on a classified column; false when there is no such column. */
  decide(
    connection: string,
    column: { schema: string; table: string; column: string },
    d: ClassDecision,
    by: string,
  ): boolean {
    if (!this.store.decide(connection, column, d, by, Date.now())) return false;
    const c = this.of(connection);
    c.rows = this.store.list(connection);
    this.onChange(connection);
    return true;
  }

  close(): void {
    this.closed = true;
    for (const c of this.conns.values()) if (c.rerun) clearTimeout(c.rerun);
    this.store.close();
  }
}

/** What of a stored class shapes the rules (a new share alone changes nothing). */
function ruleShape(r: StoredClass): string {
  return `${columnKey(r)}\0${r.detector}\0${r.state}\0${r.strategy ?? ''}`;
}
