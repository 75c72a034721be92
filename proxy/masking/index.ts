// The masking engine's public surface (see each module's header). Pure and synchronous, no
// sockets: the session feeds frames to a MaskingStream (or uses the parts directly), the core
// compiles each policy's rules once and keeps one MaskCatalog per upstream.

export { type CatalogBinding, type CatalogQueries, type CatalogRows, catalogQueries, MaskCatalog, type MaskCatalogOptions, type QueryRunner, sqlLiteral } from './catalog.js';
export { bump, CompiledMasking, compileMasking, Detection, type MaskingOptions } from './compile.js';
export { type CopyContext, CopyMasker, type CopyOptions, defaultCopyOptions, parseCopyOutResponse } from './copy.js';
export { ALL_DETECTORS, DetectorSet, findSensitive, ibanValid, jwtValid, luhnValid, type Span } from './detectors.js';
export { LineageSession, type LineageResolver, lineageResolver, outputLineage, type ResolvedRelation, type SimpleResolver, type StatementLineage, statementLineages } from './lineage.js';
export { OID, typeKind, type UserTypes } from './pgtypes.js';
export { alignLineage, buildMaskPlan, type ColumnLineage, MaskError, MaskPlan, PASSTHROUGH_PLAN, type PlanContext, parseBindResultFormats, parseRowDescription, resolveFormats, type RowField } from './plan.js';
export { type Counts, type ErrorMaskOptions, maskDataRow, maskErrorOrNotice, maskNotification } from './rewrite.js';
export * from './rules.js';
export { generateMaskKey, Hasher, type Masked, maskFreeText, partialText, REDACTED, spanReplacement, textMasker, valueMasker } from './strategies.js';
export { describePortalMessage, MaskingStream, type MaskingStreamOptions } from './stream.js';
