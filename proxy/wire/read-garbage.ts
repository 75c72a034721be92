// Every socket read hands out a fresh ArrayBuffer (up to 64 KiB, outside the JavaScript heap).
// Once relayed it is garbage, but V8 only frees it when a collection runs, and a gateway
// streaming a large result allocates almost nothing else: tens of megabytes of spent read
// buffers pile up before the heap's own accounting calls for a collection. A young-generation
// collection (a scavenge: about a millisecond, everything here dies young) after every few
// megabytes relayed keeps that pile, and the gateway's peak memory, small whatever the result size.
//
// The collector is V8's `gc` function, which the host exposes at its start (proxy/runtime.ts):
// where it did not, the hint does nothing and the heap's own accounting applies.

import { forcedGc } from '../runtime.js';

/** Bytes relayed between two hints. */
const EVERY_BYTES = 8 * 1024 * 1024;

let relayed = 0;

/** Notes `bytes` of socket reads relayed; now and then frees the spent ones. */
export function noteRelayed(bytes: number): void {
  relayed += bytes;
  if (relayed < EVERY_BYTES) return;
  relayed = 0;
  forcedGc()?.({ type: 'minor' });
}
