// A store of a million records built through the store's own append path (each entry one chained
// record, appended 20,000 at a time), so it is a real store that verifies: sessions of 100
// records each (open, 96 frame chunks, 2 statements, close), some with a statement that a text
// search finds.

import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import type { StoreEntry } from '../../proxy/store/types.js';
import { statement } from '../store/fixtures.js';

export const RECORDS_PER_SESSION = 100;
/** The word planted in one statement of every `NEEDLE_EVERY`th session. */
export const NEEDLE = 'needle7f3a';
export const NEEDLE_EVERY = 1000;

/** When session 0 starts (epoch µs); session i starts i seconds later and lasts half a second. */
export const SESSION_T0 = 1_750_000_000_000_000;
const QUERY = Buffer.concat([Buffer.from([0x51, 0, 0, 0, 14]), Buffer.from('SELECT 1;\0')]);
const ROW = Buffer.concat([Buffer.from([0x44, 0, 0, 0, 11, 0, 1, 0, 0, 0, 1]), Buffer.from('1')]);

export function sessionId(i: number): string {
  return `big-${String(i).padStart(7, '0')}`;
}

/** Builds the store at `file` with `sessions` sessions (100 records each); identities alternate alice / bob. */
export function buildBigStore(file: string, sessions: number): void {
  const store = openSqliteStore(file);
  let batch: StoreEntry[] = [];
  for (let i = 0; i < sessions; i++) {
    const id = sessionId(i);
    const startedAt = SESSION_T0 + i * 1_000_000;
    batch.push({
      kind: 'session_open',
      session: {
        id,
        identity: i % 2 === 0 ? 'alice' : 'bob',
        authMethod: 'scram-sha-256',
        connection: 'app',
        clientAddress: '127.0.0.1:40000',
        applicationName: 'psql',
        database: 'appdb',
        tls: false,
        protocol: '3.0',
        startedAt,
        endedAt: null,
        endReason: null,
        statements: 0,
      },
    });
    for (let f = 0; f < 96; f++) {
      const client = f % 2 === 0;
      batch.push({
        kind: 'frames',
        sessionId: id,
        seq: f + 1,
        count: 1,
        dir: client ? 'client' : 'server',
        tUs: f * 100,
        data: client ? QUERY : ROW,
      });
    }
    for (let n = 1; n <= 2; n++) {
      const needle = n === 2 && i % NEEDLE_EVERY === 0 ? ` /* ${NEEDLE} */` : '';
      batch.push({
        kind: 'statement',
        statement: statement(id, n, {
          sql: `SELECT * FROM orders WHERE id = ${i * 2 + n}${needle}`,
          startedAt: startedAt + n * 1000,
          durationUs: 120,
          firstFrame: n * 2 - 1,
          lastFrame: n * 2,
        }),
      });
    }
    batch.push({
      kind: 'session_close',
      sessionId: id,
      endedAt: startedAt + 500_000,
      endReason: 'client disconnected',
    });
    if (batch.length >= 20_000) {
      store.append(batch);
      batch = [];
    }
  }
  store.append(batch);
  store.close();
}
