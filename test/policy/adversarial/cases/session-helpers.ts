// Small helpers for the hand-driven cases (approvals, policy reloads): send bytes, read the answer.
import {
  bindMessage,
  cstr,
  dataRowValues,
  errorFields,
  executeMessage,
  message,
  parseMessage,
  type RawClient,
  syncMessage,
} from '../../../helpers/raw-client.js';

/**
 * Writes `bytes` and reads `n` ReadyForQuery answers (fewer when a FATAL error ends the session);
 * returns every error's SQLSTATE and message.
 */
export async function exchange(c: RawClient, bytes: Buffer, n = 1): Promise<string[]> {
  c.write(bytes);
  const errors: string[] = [];
  for (let i = 0; i < n; i++) {
    for (;;) {
      let m: Awaited<ReturnType<RawClient['readMessage']>>;
      try {
        m = await c.readMessage(20_000);
      } catch (e) {
        // Ended by the gateway at an earlier FATAL: what is sent after it never runs.
        if (/connection closed/.test((e as Error).message)) {
          errors.push('session ended');
          return errors;
        }
        throw e;
      }
      if (m.type === 'E') {
        const f = errorFields(m.body);
        errors.push(`${f.C} ${f.M}`);
        // The gateway ended the session (a refusal too): nothing more comes.
        if (f.S === 'FATAL') return errors;
      }
      if (m.type === 'Z') break;
    }
  }
  return errors;
}

/** The first column of every row of one simple Query. */
export async function rows(c: RawClient, sql: string): Promise<(string | null)[]> {
  c.write(q(sql));
  const out: (string | null)[] = [];
  for (;;) {
    const m = await c.readMessage(20_000);
    if (m.type === 'D') out.push(dataRowValues(m.body)[0]);
    if (m.type === 'Z') return out;
  }
}

export const q = (sql: string): Buffer => message('Q', cstr(sql));

/** Bind + Execute + Sync of a named (or unnamed) statement. */
export const run = (stmt: string, params: (string | null)[]): Buffer =>
  Buffer.concat([bindMessage('', stmt, params), executeMessage(''), syncMessage()]);

export const parse = (stmt: string, sql: string): Buffer =>
  Buffer.concat([parseMessage(stmt, sql), syncMessage()]);
