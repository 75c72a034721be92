// Every socket read hands out a fresh ArrayBuffer (up to 64 KiB, outside the JavaScript heap).
// Once relayed it is garbage, but V8 only frees it when a collection runs, and a gateway
// streaming a large result allocates almost nothing else: tens of megabytes of spent read
// buffers pile up before the heap's own accounting calls for a collection. A young-generation
// collection (a scavenge: about a millisecond, everything here dies young) after every few
// megabytes relayed keeps that pile, and the gateway's peak memory, small whatever the result size.
//
// The collector is reached through V8's `gc` extension, exposed at run time (no command-line
// flag): where that is not possible, the hint does nothing and the heap's own accounting applies.

import v8 from 'node:v8';
import vm from 'node:vm';

/** Bytes relayed between two hints. */
const EVERY_BYTES = 8 * 1024 * 1024;

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let collect: GcFunction | null | undefined;
let relayed = 0;

function collector(): GcFunction | null {
  if (collect !== undefined) return collect;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    collect = typeof gc === 'function' ? (gc as GcFunction) : null;
  } catch {
    collect = null;
  }
  return collect;
}

/** Notes `bytes` of socket reads relayed; now and then frees the spent ones. */
export function noteRelayed(bytes: number): void {
  relayed += bytes;
  if (relayed < EVERY_BYTES) return;
  relayed = 0;
  collector()?.({ type: 'minor' });
}
