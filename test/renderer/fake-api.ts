// A BastionApi stand-in for the renderer's slice tests: records calls, answers from fixtures.

import type {
  Approval,
  BastionApi,
  BastionEvent,
  BastionEventSource,
  ConnectionView,
  IdentityView,
  LiveStatement,
  PolicyCheck,
  PolicyDocument,
  PolicyProblem,
  PolicySaveResult,
  ReplayInfo,
  ReportFile,
  SessionSearchResult,
  StatementSearchResult,
  StoreSourceView,
} from '../../shared/api.js';
import type { FrameView, StatementRecord } from '../../shared/types.js';

export function statement(over: Partial<LiveStatement> & { seq: number }): LiveStatement {
  return {
    sessionId: 's1',
    protocol: 'simple',
    sql: `select ${over.seq}`,
    params: null,
    startedAt: 1_700_000_000_000_000 + over.seq * 1000,
    durationUs: 120,
    rows: 1,
    tag: 'SELECT 1',
    errorCode: null,
    errorMessage: null,
    decision: 'allow',
    rule: null,
    firstFrame: over.seq * 4,
    lastFrame: over.seq * 4 + 3,
    truncated: false,
    uncapturedBytes: 0,
    uncapturedRows: 0,
    uncapturedDigest: null,
    masked: {},
    identity: 'agent-1',
    connection: 'app',
    ...over,
  };
}

export function approval(over: Partial<Approval> & { id: string }): Approval {
  return {
    sessionId: 's1',
    identity: 'agent-1',
    connection: 'app',
    sql: 'delete from customers',
    rule: 'unbounded-writes',
    reason: 'DELETE without WHERE',
    clientReason: null,
    requestedAt: 1_000_000,
    expiresAt: 121_000_000,
    state: 'pending',
    decidedBy: null,
    decidedAt: null,
    recent: [],
    ...over,
  };
}

export function connection(over: Partial<ConnectionView> & { name: string }): ConnectionView {
  return {
    listen: '127.0.0.1:6432',
    upstream: 'postgres://owner@127.0.0.1:5432/appdb?sslmode=prefer',
    hasUpstreamPassword: true,
    tls: 'self-signed',
    state: 'stopped',
    error: null,
    activeSessions: 0,
    address: null,
    ...over,
  };
}

export interface FakeApi extends BastionApi, BastionEventSource {
  calls: { method: string; args: unknown[] }[];
  data: {
    connections: ConnectionView[];
    identities: IdentityView[];
    recent: LiveStatement[];
    approvals: Approval[];
    sessionResult: SessionSearchResult;
    statementResult: StatementSearchResult;
    replay: ReplayInfo | null;
    /** Frames of the replayed session, by seq (readFrames reads from here). */
    frames: FrameView[];
    statements: StatementRecord[];
    policies: PolicyDocument;
    validate: PolicyProblem[];
    check: PolicyCheck;
    save: PolicySaveResult;
    report: ReportFile;
    storeSource: StoreSourceView;
  };
  emit(e: BastionEvent): void;
  /** Makes the next call of `method` fail with `message`. */
  failNext(method: keyof BastionApi, message: string): void;
}

export function fakeApi(): FakeApi {
  const listeners = new Set<(e: BastionEvent) => void>();
  const failures = new Map<string, string>();
  const data: FakeApi['data'] = {
    connections: [],
    identities: [],
    recent: [],
    approvals: [],
    sessionResult: { sessions: [], total: 0, more: false },
    statementResult: { statements: [], more: false },
    replay: null,
    frames: [],
    statements: [],
    policies: { yaml: 'default: {}\n', schema: {}, identities: [], history: [] },
    validate: [],
    check: { problems: [], policy: 'default', statements: [] },
    save: { ok: true, problems: [], change: null, switchedSessions: 0 },
    report: {
      fileName: 'bastion-report.pdf',
      mime: 'application/pdf',
      base64: 'JVBERg==',
      bytes: 4,
      summary: {
        sessions: 1,
        statements: 2,
        blocked: 0,
        held: 0,
        errors: 0,
        masked: 0,
        verified: true,
        digest: 'ab',
      },
    },
    storeSource: {
      kind: 'local',
      store: '/tmp/bastion.db',
      label: 'bastion.db',
      role: null,
      decideAs: 'host-user',
      connected: true,
      error: null,
      gateways: [],
      openedAt: null,
      shipping: null,
    },
  };
  const calls: FakeApi['calls'] = [];
  const call = async <T>(method: string, args: unknown[], answer: () => T): Promise<T> => {
    calls.push({ method, args });
    const f = failures.get(method);
    if (f !== undefined) {
      failures.delete(method);
      throw new Error(f);
    }
    return answer();
  };
  const find = (name: string) => data.connections.find((c) => c.name === name)!;
  return {
    calls,
    data,
    emit: (e) => {
      for (const l of listeners) l(e);
    },
    failNext: (m, msg) => failures.set(m, msg),
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    listConnections: () => call('listConnections', [], () => [...data.connections]),
    saveConnection: (input) =>
      call('saveConnection', [input], () => connection({ name: input.name, listen: input.listen })),
    removeConnection: (name) =>
      call('removeConnection', [name], () => {
        data.connections = data.connections.filter((c) => c.name !== name);
        data.identities = data.identities.map((i) => ({
          ...i,
          connections: i.connections.filter((c) => c !== name),
        }));
      }),
    testConnection: (input) => call('testConnection', [input], () => ({ ok: true, message: 'Connected' })),
    startListener: (name) =>
      call('startListener', [name], () => ({
        ...find(name),
        state: 'listening' as const,
        address: find(name).listen,
      })),
    stopListener: (name) =>
      call('stopListener', [name], () => ({ ...find(name), state: 'stopped' as const, address: null })),
    listIdentities: () => call('listIdentities', [], () => [...data.identities]),
    saveIdentity: (input) =>
      call('saveIdentity', [input], () => ({
        name: input.name,
        kind: 'password' as const,
        connections: input.connections,
        policy: input.policy ?? 'default',
      })),
    removeIdentity: (name) => call('removeIdentity', [name], () => undefined),
    listSessions: () => call('listSessions', [], () => []),
    getSession: () => call('getSession', [], () => null),
    listStatements: () => call('listStatements', [], () => []),
    readFrames: (id, fromSeq, limit) =>
      call('readFrames', [id, fromSeq, limit], () =>
        data.frames.filter((f) => f.seq >= fromSeq).slice(0, limit),
      ),
    recentStatements: (limit) => call('recentStatements', [limit], () => data.recent.slice(0, limit)),
    listApprovals: (state) =>
      call('listApprovals', [state], () => data.approvals.filter((a) => !state || a.state === state)),
    decideApproval: (id, decision, by) =>
      call('decideApproval', [id, decision, by], () => {
        const a = data.approvals.find((x) => x.id === id)!;
        return {
          ...a,
          state: decision === 'approve' ? ('approved' as const) : ('denied' as const),
          decidedBy: by || 'host-user',
          decidedAt: 5,
        };
      }),
    verifyStore: () => call('verifyStore', [], () => ({ ok: true, records: 0, head: null })),
    searchSessions: (filter) => call('searchSessions', [filter], () => data.sessionResult),
    searchStatements: (text, limit, offset) =>
      call('searchStatements', [text, limit, offset], () => data.statementResult),
    openReplay: (id) => call('openReplay', [id], () => data.replay),
    statementsPage: (id, fromSeq, limit) =>
      call('statementsPage', [id, fromSeq, limit], () =>
        data.statements.filter((s) => s.seq >= fromSeq).slice(0, limit),
      ),
    readFrameBytes: (id, seq) =>
      call('readFrameBytes', [id, seq], () => {
        const f = data.frames.find((x) => x.seq === seq);
        return f ? { seq, dir: f.dir, type: f.type, hex: '5100000009', length: 5, truncated: false } : null;
      }),
    getPolicies: () => call('getPolicies', [], () => data.policies),
    validatePolicies: (yaml) => call('validatePolicies', [yaml], () => data.validate),
    checkPolicy: (yaml, sql, identity) => call('checkPolicy', [yaml, sql, identity], () => data.check),
    previewMasking: (yaml, connection, sql, identity) =>
      call('previewMasking', [yaml, connection, sql, identity], () => ({
        problems: [],
        policy: 'default',
        error: null,
        columns: ['email'],
        rows: [['a***@example.com']],
        masked: { detectors: 1 },
        truncated: false,
      })),
    savePolicies: (yaml, by) => call('savePolicies', [yaml, by], () => data.save),
    listPolicyChanges: (limit) =>
      call('listPolicyChanges', [limit], () => data.policies.history.slice(0, limit)),
    exportReport: (request) => call('exportReport', [request], () => data.report),
    storeSource: () => call('storeSource', [], () => data.storeSource),
    openSharedStore: (input) => call('openSharedStore', [input], () => data.storeSource),
    closeSharedStore: () => call('closeSharedStore', [], () => data.storeSource),
    // Classification: nothing classified (the e2e test drives the real core).
    listClassifications: () => call('listClassifications', [], () => []),
    decideClassification: (connection, column, decision, by) =>
      call('decideClassification', [connection, column, decision, by], () => ({
        connection,
        columns: [],
        running: false,
        lastRun: null,
        error: null,
      })),
    runClassification: (connection) =>
      call('runClassification', [connection], () => ({
        connection,
        columns: [],
        running: false,
        lastRun: null,
        error: null,
      })),
  };
}
