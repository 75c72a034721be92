// Append throughput with frames arriving as chunks of 10-50 frames, the recorder's shape.
// Prints the rate; asserts only correctness (timings vary too much between machines).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSqliteStore } from '../../proxy/store/sqlite-store.js';
import type { StoreEntry } from '../../proxy/store/types.js';
import { frame, session, tempStorePath } from './fixtures.js';

test('append rate for frame chunks (printed, not asserted)', () => {
  const store = openSqliteStore(tempStorePath());
  const sessions = 16;
  const ids = Array.from({ length: sessions }, (_, i) => `perf-${i}`);
  store.append(ids.map((id) => ({ kind: 'session_open' as const, session: session(id) })));

  // Pre-built DataRow-like chunks (60-150 byte frames), so the loop measures the store only.
  const chunks = Array.from({ length: 64 }, (_, i) => {
    const count = 10 + ((i * 7) % 41);
    const frames = Array.from({ length: count }, (_, j) => frame(0x44, Buffer.alloc(55 + ((i + j) % 90), j)));
    return { count, data: Buffer.concat(frames) };
  });
  const seqs = new Array<number>(sessions).fill(0);
  const chunksPerBatch = 200;
  const batches = 150;
  let frames = 0;
  let bytes = 0;
  const started = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) {
    const batch: StoreEntry[] = [];
    for (let c = 0; c < chunksPerBatch; c++) {
      const s = (b * chunksPerBatch + c) % sessions;
      const { count, data } = chunks[(b + c) % chunks.length];
      batch.push({
        kind: 'frames',
        sessionId: ids[s],
        seq: seqs[s],
        count,
        dir: 'server',
        tUs: b * 1000 + c,
        data,
      });
      seqs[s] += count;
      frames += count;
      bytes += data.length;
    }
    store.append(batch);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const readStart = process.hrtime.bigint();
  const read = store.readFrames(ids[3], 1000, 50_000);
  const readSeconds = Number(process.hrtime.bigint() - readStart) / 1e9;
  const verifyStart = process.hrtime.bigint();
  const v = store.verify();
  const verifySeconds = Number(process.hrtime.bigint() - verifyStart) / 1e9;
  console.log(
    `append: ${frames} frames (${(bytes / 1e6).toFixed(1)} MB) in ${batches * chunksPerBatch} chunks: ` +
      `${Math.round(frames / seconds).toLocaleString('en')} frames/s, ${(bytes / 1e6 / seconds).toFixed(1)} MB/s; ` +
      `readFrames ${read.length} in ${(readSeconds * 1000).toFixed(1)} ms; verify ${v.records} records in ${(verifySeconds * 1000).toFixed(0)} ms`,
  );
  assert.equal(read[0].seq, 1000);
  assert.equal(v.ok, true);
  store.close();
});
