// The one dispatcher of API calls for every host (Electron IPC, the UI's WebSocket, the CLI's
// control socket), in the spirit of VS Code's ProxyChannel: the service interface becomes a
// channel mechanically (method names from API_METHODS), and the hosts only move messages. A call
// is checked before it reaches the service (a known method, a list of at most as many arguments
// as the method takes; the service checks each argument's shape), and it never throws: it comes
// to a result or a typed error (shared/rpc.ts).

import { API_METHODS, type BastionApi } from '../../shared/api.js';
import type { ApiMethod, RpcErrorData, RpcOutcome, RpcReply } from '../../shared/rpc.js';
import { classifyError } from './rpc-errors.js';

/** How many arguments each method takes at most; the compiler checks each against BastionApi. */
const ARITY: { [M in ApiMethod]: Required<Parameters<BastionApi[M]>>['length'] } = {
  listConnections: 0,
  saveConnection: 1,
  removeConnection: 1,
  testConnection: 1,
  startListener: 1,
  stopListener: 1,
  listIdentities: 0,
  saveIdentity: 1,
  removeIdentity: 1,
  listSessions: 1,
  getSession: 1,
  listStatements: 1,
  readFrames: 3,
  recentStatements: 1,
  listApprovals: 1,
  decideApproval: 3,
  verifyStore: 0,
  searchSessions: 1,
  searchStatements: 3,
  openReplay: 1,
  statementsPage: 3,
  readFrameBytes: 2,
  getPolicies: 0,
  validatePolicies: 1,
  checkPolicy: 3,
  previewMasking: 4,
  savePolicies: 2,
  listPolicyChanges: 1,
  exportReport: 1,
  storeSource: 0,
  openSharedStore: 1,
  closeSharedStore: 0,
  listClassifications: 1,
  decideClassification: 4,
  runClassification: 1,
};

export interface DispatcherOptions {
  /** The methods this host offers (default: all of API_METHODS). */
  methods?: readonly ApiMethod[];
  /** Failures that are not the caller's doing (bugs, a failing store), for the operator. */
  log?: (message: string) => void;
}

/** One call by name: `params` as it came off the transport (undefined = no arguments). */
export type Dispatch = (method: unknown, params: unknown) => Promise<RpcOutcome>;

const fail = (code: string, message: string): { error: RpcErrorData } => ({ error: { message, code } });

export function createDispatcher(service: BastionApi, opts: DispatcherOptions = {}): Dispatch {
  // A Set of own names: never `constructor`, `__proto__`, `dispose` or anything else on the object.
  const offered: ReadonlySet<string> = new Set(opts.methods ?? API_METHODS);
  const log = opts.log ?? (() => {});
  return async (method, params) => {
    if (typeof method !== 'string' || !offered.has(method))
      return fail('unknown-method', `unknown method ${JSON.stringify(String(method)).slice(0, 80)}`);
    const name = method as ApiMethod;
    const args = params === undefined || params === null ? [] : params;
    if (!Array.isArray(args)) return fail('bad-message', 'params must be a list of arguments');
    if (args.length > ARITY[name])
      return fail('bad-arguments', `${name} takes at most ${ARITY[name]} argument(s), got ${args.length}`);
    try {
      const fn = service[name] as (...a: unknown[]) => Promise<unknown>;
      const result = await fn.apply(service, args);
      return { result: result === undefined ? null : result };
    } catch (e) {
      const { message, code, expected } = classifyError(e);
      if (!expected) log(`API call ${name} failed: ${message}`);
      return fail(code, message);
    }
  };
}

/** A call as a socket carries it (JSON `{id, method, params}`), answered with its reply. */
export async function dispatchMessage(dispatch: Dispatch, text: string): Promise<RpcReply> {
  let req: unknown;
  try {
    req = JSON.parse(text);
  } catch {
    req = null;
  }
  if (req === null || typeof req !== 'object' || Array.isArray(req))
    return { id: null, ...fail('bad-message', 'invalid message: expected JSON {id, method, params}') };
  const { id, method, params } = req as { id?: unknown; method?: unknown; params?: unknown };
  const replyId = typeof id === 'number' || typeof id === 'string' ? id : null;
  return { id: replyId, ...(await dispatch(method, params)) };
}
