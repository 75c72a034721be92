// Builders shared by the store tests: temp store paths, sessions, statements, wire frames.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FrameChunk } from '../../proxy/store/types.js';
import type { Direction, SessionInfo, StatementRecord } from '../../shared/types.js';

// One temp root per test process, removed at exit, after every store in it is closed or abandoned.
let root: string | undefined;
let n = 0;

/** A fresh store path whose parent directory does not exist yet (the store must create it). */
export function tempStorePath(name = 'bastion.db'): string {
  if (!root) {
    const dir = mkdtempSync(join(tmpdir(), 'bastion-store-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    root = dir;
  }
  return join(root, `s${++n}`, name);
}

export function session(id: string, over: Partial<SessionInfo> = {}): SessionInfo {
  return {
    id,
    identity: 'agent-1',
    authMethod: 'scram-sha-256',
    connection: 'app',
    clientAddress: '127.0.0.1:50000',
    applicationName: 'psql',
    database: 'appdb',
    tls: true,
    protocol: '3.0',
    startedAt: 1_750_000_000_000_000,
    endedAt: null,
    endReason: null,
    statements: 0,
    ...over,
  };
}

export function statement(
  sessionId: string,
  seq: number,
  over: Partial<StatementRecord> = {},
): StatementRecord {
  return {
    sessionId,
    seq,
    protocol: 'simple',
    sql: `SELECT ${seq}`,
    params: null,
    startedAt: 1_750_000_000_000_000 + seq * 1000,
    durationUs: 250,
    rows: 1,
    tag: 'SELECT 1',
    errorCode: null,
    errorMessage: null,
    decision: 'allow',
    rule: null,
    firstFrame: seq * 10,
    lastFrame: seq * 10 + 4,
    truncated: false,
    uncapturedBytes: 0,
    uncapturedRows: 0,
    uncapturedDigest: null,
    masked: {},
    ...over,
  };
}

/** One wire message: type byte, int32 length (counting itself), body. Type 0 = startup packet. */
export function frame(type: number, body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeInt32BE(b.length + 4, 1);
  return Buffer.concat([head, b]);
}

export function chunk(
  sessionId: string,
  seq: number,
  dir: Direction,
  tUs: number,
  frames: Buffer[],
): FrameChunk {
  return { kind: 'frames', sessionId, seq, count: frames.length, dir, tUs, data: Buffer.concat(frames) };
}
