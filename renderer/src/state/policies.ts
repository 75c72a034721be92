// The policy editor's slice: the policies YAML being edited, its problems (YAML and schema at
// once as you type, then the gateway's own checks), the preview (guardrails run on pasted SQL
// with the text as it is, unsaved) and saving (validated again, recorded, applied).

import type { StateCreator } from 'zustand/vanilla';
import type { BastionApi, PolicyChange, PolicyCheck, PolicyProblem } from '../../../shared/api.js';
import type { Schema } from './json-schema.js';
import { policyTextProblems } from './policy-text.js';
import type { AppState } from './store.js';

export interface PolicyCheckState {
  sql: string;
  /** '' = no identity (the default policy decides). */
  identity: string;
  result: PolicyCheck | null;
  /** The draft the result was computed on (stale when the draft has changed since). */
  resultFor: string | null;
  running: boolean;
  error: string | null;
}

export interface PoliciesState {
  loaded: boolean;
  loading: boolean;
  error: string | null;
  /** The text as saved (what the gateway runs). */
  original: string;
  draft: string;
  schema: Schema | null;
  /** YAML and schema problems of the draft (instant). */
  clientProblems: PolicyProblem[];
  /** The gateway's problems for `serverFor` (when the draft passes the client checks). */
  serverProblems: PolicyProblem[];
  serverFor: string | null;
  validating: boolean;
  identities: { name: string; policy: string }[];
  history: PolicyChange[];
  saving: boolean;
  saveError: string | null;
  /** Open sessions the last save switched to the new policies (null: none saved yet). */
  switchedSessions: number | null;
  /** Who the change is recorded as ('' = the host's operator). */
  changedBy: string;
  check: PolicyCheckState;
}

export interface PoliciesSlice {
  policies: PoliciesState;
  loadPolicies(): Promise<void>;
  setPolicyDraft(text: string): void;
  /** Asks the gateway about the draft (skipped while the client already sees problems). */
  validatePolicyDraft(): Promise<void>;
  setPolicyCheck(patch: Partial<Pick<PolicyCheckState, 'sql' | 'identity'>>): void;
  runPolicyCheck(): Promise<void>;
  /** Saves the draft; true when saved (or nothing to save). */
  savePolicyDraft(): Promise<boolean>;
  revertPolicyDraft(): void;
  setChangedBy(name: string): void;
}

/** What the editor underlines: the instant problems, else the gateway's for this very text. */
export function visibleProblems(p: PoliciesState): PolicyProblem[] {
  if (p.clientProblems.length > 0) return p.clientProblems;
  return p.serverFor === p.draft ? p.serverProblems : [];
}

export function isDirty(p: PoliciesState): boolean {
  return p.loaded && p.draft !== p.original;
}

export function createPoliciesSlice(
  api: Pick<BastionApi, 'getPolicies' | 'validatePolicies' | 'checkPolicy' | 'savePolicies'>,
  changedBy = '',
): StateCreator<AppState, [], [], PoliciesSlice> {
  let checkSerial = 0;
  return (set, get) => {
    const patch = (p: Partial<PoliciesState>) => set({ policies: { ...get().policies, ...p } });
    const patchCheck = (p: Partial<PolicyCheckState>) => patch({ check: { ...get().policies.check, ...p } });
    return {
      policies: {
        loaded: false,
        loading: false,
        error: null,
        original: '',
        draft: '',
        schema: null,
        clientProblems: [],
        serverProblems: [],
        serverFor: null,
        validating: false,
        identities: [],
        history: [],
        saving: false,
        saveError: null,
        switchedSessions: null,
        changedBy,
        check: {
          sql: '',
          identity: '',
          result: null,
          resultFor: null,
          running: false,
          error: null,
        },
      },

      async loadPolicies() {
        patch({ loading: true, error: null });
        try {
          const doc = await api.getPolicies();
          const p = get().policies;
          // Keep an edit in progress; take the saved text as the new original.
          const draft = p.loaded && p.draft !== p.original ? p.draft : doc.yaml;
          const schema = doc.schema as Schema;
          patch({
            loaded: true,
            loading: false,
            original: doc.yaml,
            draft,
            schema,
            clientProblems: policyTextProblems(draft, schema),
            identities: doc.identities,
            history: doc.history,
          });
        } catch (e) {
          patch({ loading: false, error: (e as Error).message });
        }
      },

      setPolicyDraft(text) {
        if (text === get().policies.draft) return;
        patch({
          draft: text,
          clientProblems: policyTextProblems(text, get().policies.schema),
          saveError: null,
        });
      },

      async validatePolicyDraft() {
        const p = get().policies;
        const text = p.draft;
        if (p.clientProblems.length > 0 || p.serverFor === text) return;
        patch({ validating: true });
        try {
          const problems = await api.validatePolicies(text);
          if (get().policies.draft === text)
            patch({ serverProblems: problems, serverFor: text, validating: false });
          else patch({ validating: false });
        } catch (e) {
          patch({ validating: false, saveError: (e as Error).message });
        }
      },

      setPolicyCheck(p) {
        patchCheck(p);
      },

      async runPolicyCheck() {
        const mine = ++checkSerial;
        const { draft, check } = get().policies;
        if (check.sql.trim() === '') {
          patchCheck({ result: null, resultFor: null, error: null, running: false });
          return;
        }
        patchCheck({ running: true, error: null });
        try {
          const result = await api.checkPolicy(draft, check.sql, check.identity || null);
          if (mine === checkSerial) patchCheck({ result, resultFor: draft, running: false });
        } catch (e) {
          if (mine === checkSerial) patchCheck({ running: false, error: (e as Error).message });
        }
      },

      async savePolicyDraft() {
        const p = get().policies;
        if (p.saving) return false;
        if (p.clientProblems.length > 0) {
          patch({
            saveError: `Fix the ${p.clientProblems.length === 1 ? 'problem' : `${p.clientProblems.length} problems`} first`,
          });
          return false;
        }
        const text = p.draft;
        patch({ saving: true, saveError: null });
        try {
          const r = await api.savePolicies(text, p.changedBy);
          if (!r.ok) {
            patch({
              saving: false,
              serverProblems: r.problems,
              serverFor: text,
              saveError: 'Not saved: the policies have problems',
            });
            return false;
          }
          const history = r.change ? [r.change, ...get().policies.history] : get().policies.history;
          patch({
            saving: false,
            original: text,
            // Saved; warnings (a rule naming no column of the databases) stay underlined.
            serverProblems: r.problems,
            serverFor: text,
            history,
            switchedSessions: r.switchedSessions ?? 0,
          });
          return true;
        } catch (e) {
          patch({ saving: false, saveError: (e as Error).message });
          return false;
        }
      },

      revertPolicyDraft() {
        get().setPolicyDraft(get().policies.original);
      },

      setChangedBy(name) {
        patch({ changedBy: name });
      },
    };
  };
}
