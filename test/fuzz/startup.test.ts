// Fuzzing the startup phase: the untyped packets (StartupMessage, SSLRequest, GSSENCRequest,
// CancelRequest) with lying lengths, invalid UTF-8 and NULs anywhere, read by the socket reader
// and parsed; and their replay decoding. Refusals only with the phase's own errors, at once.

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { GatewayError } from '../../proxy/errors.js';
import { MAX_STARTUP_PACKET } from '../../proxy/wire/codes.js';
import { decodeFrame } from '../../proxy/wire/decode.js';
import { SocketReader } from '../../proxy/wire/socket-reader.js';
import { parseStartupPacket, StartupParseError } from '../../proxy/wire/startup.js';
import { bytesOf, corpus, fuzz, int32, lyingInt32, nastyBytes } from './harness.js';

const CODES = [80877103, 80877104, 80877102, 3 << 16, (3 << 16) | 2, (3 << 16) | 9, 2 << 16, 0];

function parse(body: Buffer): string {
  try {
    const p = parseStartupPacket(body);
    if (p.kind === 'startup') {
      // Parameters are plain data: no prototype to pollute, every value a string.
      assert.equal(Object.getPrototypeOf(p.params), null);
      for (const v of Object.values(p.params)) assert.equal(typeof v, 'string');
    }
    return p.kind;
  } catch (e) {
    assert.ok(
      e instanceof StartupParseError,
      `threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`,
    );
    return 'refused';
  }
}

/** What the socket reader makes of `wire` (length + body, as sent): a body, a refusal, or waiting. */
async function readPacket(wire: Buffer): Promise<'body' | 'refused' | 'waiting'> {
  const socket = new PassThrough();
  const reader = new SocketReader(socket);
  socket.write(wire);
  try {
    // A deadline already near: a packet that is complete or refused must not need it.
    await reader.readStartupPacket(MAX_STARTUP_PACKET, Date.now() + 20);
    return 'body';
  } catch (e) {
    assert.ok(e instanceof GatewayError, `threw ${(e as Error)?.constructor?.name}`);
    assert.equal(e.code, '08P01');
    return /timeout/.test(e.message) ? 'waiting' : 'refused';
  } finally {
    reader.detach();
    socket.destroy();
  }
}

const packetBody = fc.oneof(
  nastyBytes(64),
  fc
    .tuple(fc.constantFrom(...CODES), nastyBytes(200))
    .map(([code, rest]) => Buffer.concat([int32(code), rest])),
  fc
    .tuple(
      fc.constantFrom(3 << 16, (3 << 16) | 2),
      fc.array(
        fc.oneof(
          fc.constantFrom('user', 'database', '_pq_.x', '__proto__', 'options', ''),
          fc.string({ maxLength: 6 }),
        ),
        {
          maxLength: 10,
        },
      ),
      fc.boolean(),
    )
    .map(([code, parts, term]) =>
      Buffer.concat([
        int32(code),
        Buffer.from(parts.join('\0')),
        term ? Buffer.from([0, 0]) : Buffer.alloc(0),
      ]),
    ),
);

describe('startup packets', () => {
  test('corpus replay', async () => {
    for (const e of corpus('startup')) {
      const wire = bytesOf(e);
      const body = wire.subarray(4);
      const kind = parse(body);
      if (typeof e.kind === 'string') assert.equal(kind, e.kind, e.note);
      JSON.stringify(decodeFrame('client', 0, body));
      const read = await readPacket(wire);
      if (typeof e.read === 'string') assert.equal(read, e.read, e.note);
    }
  });

  test('parser and replay decoder: any body is parsed or refused with StartupParseError, never a crash', (t) => {
    fuzz(
      t,
      fc.property(packetBody, (b) => {
        parse(b);
        const d = decodeFrame('client', 0, b);
        JSON.parse(JSON.stringify(d));
      }),
    );
  });

  test('socket reader: a lying length is refused at once (08P01), a true one read, a short one waited for', async (t) => {
    // Async properties: fewer runs fit the budget (each waits for the reader).
    const samples = fc.sample(fc.tuple(lyingInt32(), packetBody), {
      numRuns: 300,
      seed: Number(process.env.FUZZ_SEED ?? 7),
    });
    let refused = 0;
    for (const [len, body] of samples) {
      const wire = Buffer.concat([int32(len), body]);
      const r = await readPacket(wire);
      if (len < 8 || len > MAX_STARTUP_PACKET) assert.equal(r, 'refused', `length ${len}`);
      else
        assert.equal(r, len <= wire.length ? 'body' : 'waiting', `length ${len} with ${wire.length} bytes`);
      if (r === 'refused') refused++;
    }
    t.diagnostic(`${samples.length} packets, ${refused} refused at the header`);
  });
});
