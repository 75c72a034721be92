// Budgeted property fuzzing for CI: every property runs for FUZZ_MS milliseconds (default 1500)
// from one seed, FUZZ_SEED (random when unset, printed with every result so a failure can be
// replayed exactly: FUZZ_SEED=<seed> node --test dist/test/fuzz/...). Inputs that once found a
// bug or cover an edge case live in test/fuzz/corpus/<target>.jsonl and are replayed every run.

import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import fc from 'fast-check';
import { repoRoot } from '../helpers/clients.js';

export const FUZZ_SEED = process.env.FUZZ_SEED
  ? Number(process.env.FUZZ_SEED)
  : Math.floor(Math.random() * 2 ** 31);
export const FUZZ_MS = Number(process.env.FUZZ_MS ?? 1500);

/** Runs `property` for the time budget; throws with the seed and the counterexample on failure. */
export function fuzz<Ts extends [unknown, ...unknown[]]>(t: TestContext, property: fc.IProperty<Ts>): void {
  const details = fc.check(property, {
    seed: FUZZ_SEED,
    numRuns: 10_000_000,
    interruptAfterTimeLimit: FUZZ_MS,
    markInterruptAsFailure: false,
  });
  t.diagnostic(`${details.numRuns} runs in ${FUZZ_MS} ms, FUZZ_SEED=${FUZZ_SEED}`);
  if (details.failed) {
    throw new Error(
      `fuzzing found a failure; replay with FUZZ_SEED=${FUZZ_SEED} ` +
        `(and add the input to test/fuzz/corpus/)\n${fc.defaultReportMessage(details)}`,
    );
  }
}

export interface CorpusEntry {
  /** Why this input is kept: the bug it found or the edge it covers. */
  note: string;
  /** The input as hex (binary targets). */
  hex?: string;
  /** The input as text (config files). */
  text?: string;
  /** Extra fields a target needs (direction, type byte, ...). */
  [key: string]: unknown;
}

/** The corpus of a target: test/fuzz/corpus/<target>.jsonl, one JSON object a line. */
export function corpus(target: string): CorpusEntry[] {
  const file = path.join(repoRoot(), 'test', 'fuzz', 'corpus', `${target}.jsonl`);
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as CorpusEntry;
      } catch {
        throw new Error(`${file}:${i + 1}: not a JSON object`);
      }
    });
}

export const bytesOf = (e: CorpusEntry): Buffer => Buffer.from(e.hex ?? '', 'hex');

/** Arbitrary bytes, biased towards the values parsers trip on (0, 0xff, 0x80, lengths' edges). */
export const nastyBytes = (maxLength = 96): fc.Arbitrary<Buffer> =>
  fc
    .array(
      fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 255 }) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(0, 0xff, 0x7f, 0x80, 0xc0, 0xe0, 0xf0, 0x27, 0x5c, 0x2c, 0x3d),
        },
      ),
      { maxLength },
    )
    .map((a) => Buffer.from(a));

/** A big-endian int32 biased towards lies: negative, zero, tiny, huge, 1 GB, just past a limit. */
export const lyingInt32 = (): fc.Arbitrary<number> =>
  fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    fc.constantFrom(-1, 0, 1, 3, 4, 5, 8, 0x7fffffff, 0x40000000, 1_000_000_000, 0x10000, 0xffff, 0x8000),
    fc.integer({ min: 0, max: 300 }),
  );

export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
}

export function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}

/** A typed message with its real length. */
export const typed = (type: number, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from([type]), int32(body.length + 4), body]);
