// Keeps the upstream's catalog honest for sessions that mask nothing (the masking stream does the
// same for the others): after a statement that may have changed what names run (DDL, DO, CALL),
// the catalog is marked stale, once when the server confirms it and again when the transaction
// ends (a concurrent load may have read the catalog before the commit), so that the relay reloads
// it before the next statement is decided.

import type { MaskCatalog } from '../masking/index.js';
import { Backend } from '../wire/codes.js';
import { commandTag, readyStatus } from '../wire/fields.js';

/** Command tags of statements that may create, rename or drop functions, operators, casts or types. */
const CHANGES_CATALOG = /^(CREATE|ALTER|DROP|IMPORT|DO|CALL)\b/;

export class CatalogWatch {
  private pending = false;

  constructor(private readonly catalog: MaskCatalog) {}

  /** A backend message (whole frame at buf[start..end)). */
  server(type: number, buf: Buffer, start: number, end: number): void {
    if (type === Backend.CommandComplete) {
      if (CHANGES_CATALOG.test(commandTag(buf, start, end))) {
        this.catalog.invalidate();
        this.pending = true;
      }
    } else if (type === Backend.ReadyForQuery && this.pending && readyStatus(buf, start, end) === 0x49) {
      this.catalog.invalidate();
      this.pending = false;
    }
  }
}
