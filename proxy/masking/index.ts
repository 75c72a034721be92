// The masking engine's public surface. Pure and synchronous, no sockets (the catalog's queries
// run through an injected runner). Sensitive values are rewritten as each backend message
// passes; nothing is buffered beyond one unfinished COPY row.
//
// Wiring (core):
//   const masking = compileMasking(policy.masking, { hashKey })  // once per policy; hashKey: the
//                                                             // install's key (generateMaskKey(),
//                                                             // persisted by the core, >= 16 bytes)
//   const catalog = MaskCatalog.forPolicies([...maskings of every policy used on this upstream],
//                                           { run: (sql) => rows-as-text on a separate connection })
//   await catalog.ensureLoaded()                             // before the first statement, and
//                                                             // again whenever !catalog.fresh
// Wiring (session), one MaskingStream per client connection:
//   const ms = new MaskingStream({ masking, catalog })        // skip it entirely when !ms.active
//   client -> upstream, for every frame actually forwarded (never for ones the gateway answers
//   itself or keeps from the server):
//     const before = ms.client(type, buf, start, end)         // Buffer | null
//     if (before) upstream.write(before)                      // an injected Describe(portal)
//     upstream.write(frame)
//   upstream -> client, for every backend frame, in order:
//     const out = ms.server(type, buf, start, end, counts)    // counts: Map<rule, n> of the
//                                                             // statement being recorded
//     send(out === null ? frame : out)                        // out.length === 0: send nothing
//     record what was sent (the masked bytes), never the original
//   Both may throw MaskError (a frame that cannot be masked safely): end the session, fail closed.
//   Before forwarding a client frame: if (!catalog.fresh) await catalog.ensureLoaded().
//
// The parts, for other uses: parseRowDescription / buildMaskPlan / MaskPlan.withFormats /
// maskDataRow, CopyMasker, maskErrorOrNotice, maskNotification, statementLineages /
// outputLineage / functionLineage, maskFunctionResult, DetectorSet / findSensitive, valueMasker /
// textMasker.

export {
  type CatalogBinding,
  type CatalogFunction,
  type CatalogQueries,
  type CatalogRows,
  catalogQueries,
  DATA_DUMPING_BUILTINS,
  MaskCatalog,
  type MaskCatalogOptions,
  type QueryRunner,
  sqlLiteral,
} from './catalog.js';
export { bump, CompiledMasking, compileMasking, Detection, type MaskingOptions } from './compile.js';
export {
  type CopyContext,
  CopyMasker,
  type CopyOptions,
  defaultCopyOptions,
  parseCopyOutResponse,
} from './copy.js';
export {
  ALL_DETECTORS,
  DetectorSet,
  findSensitive,
  ibanValid,
  jwtValid,
  luhnValid,
  type Span,
} from './detectors.js';
export {
  type FunctionCallInfo,
  maskFunctionResult,
  parseFunctionCall,
  refusedFunctionResult,
} from './fcall.js';
export {
  type FunctionLineage,
  functionLineage,
  type LineageResolver,
  LineageSession,
  lineageResolver,
  outputLineage,
  type ResolvedFunction,
  type ResolvedRelation,
  type SimpleResolver,
  type StatementLineage,
  statementLineages,
} from './lineage.js';
export { OID, typeKind, type UserTypes } from './pgtypes.js';
export {
  alignLineage,
  buildMaskPlan,
  type ColumnLineage,
  MaskError,
  MaskPlan,
  PASSTHROUGH_PLAN,
  type PlanContext,
  parseBindResultFormats,
  parseRowDescription,
  type RowField,
  resolveFormats,
} from './plan.js';
export {
  type Counts,
  type ErrorMaskOptions,
  maskDataRow,
  maskErrorOrNotice,
  maskNotification,
} from './rewrite.js';
export * from './rules.js';
export {
  generateMaskKey,
  Hasher,
  type Masked,
  maskFreeText,
  partialText,
  REDACTED,
  spanReplacement,
  textMasker,
  valueMasker,
} from './strategies.js';
export { describePortalMessage, MaskingStream, type MaskingStreamOptions } from './stream.js';
