// The policy engine's public surface: SQL analysis on PostgreSQL's parser, policies and
// decisions, the analysis cache and the per-session guard. Pure and synchronous once
// `initPolicyEngine()` has resolved (await it once at start).

export { analyze, analyzeEach, leadingComments, statedReason } from './analyze.js';
export { AnalysisCache, type AnalysisCacheOptions, sharedAnalysisCache } from './cache.js';
export { analyzeFunctionCall, type FunctionCallArgs } from './function-call.js';
export { type GuardDecision, SessionGuard } from './guard.js';
export { initPolicyEngine, policyEngineReady } from './parser.js';
export {
  ACTIONS,
  compilePolicies,
  DEFAULT_APPROVAL_TIMEOUT_MS,
  DEFAULT_GUARDRAILS,
  DEFAULT_POLICY,
  type DecideContext,
  decide,
  decideStatement,
  type Policy,
  PolicyError,
  parsePolicy,
  policyFor,
  type Rule,
  type RuleMatch,
} from './policy.js';
export { type PreparedEntry, PreparedRegistry } from './prepared.js';
export * from './types.js';
