// Untyped startup-phase packets: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.
// https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-STARTUPMESSAGE

import { StartupCode } from './codes.js';
import { BodyReader, FieldError } from './reader.js';

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; pid: number; key: Buffer }
  | {
      kind: 'startup';
      major: number;
      minor: number;
      /** Ordinary parameters (user, database, application_name, ...). */
      params: Record<string, string>;
      /** Protocol options (`_pq_.*`), which the gateway supports none of. */
      protocolOptions: string[];
    };

/** A startup packet PostgreSQL would refuse. A FieldError: the bounded reader's error class. */
export class StartupParseError extends FieldError {}

/** `body` is the packet after its int32 length. */
export function parseStartupPacket(body: Buffer): StartupPacket {
  try {
    return readStartupPacket(new BodyReader(body, 0, body.length, 'startup packet'));
  } catch (e) {
    // The reader's only other refusal here is a string without its NUL.
    if (e instanceof FieldError && !(e instanceof StartupParseError))
      throw new StartupParseError(`invalid startup packet layout (${e.message})`);
    throw e;
  }
}

function readStartupPacket(r: BodyReader): StartupPacket {
  if (r.remaining < 4) throw new StartupParseError('startup packet too short');
  const code = r.int32();
  switch (code) {
    case StartupCode.SSL:
      return { kind: 'ssl' };
    case StartupCode.GSSENC:
      return { kind: 'gssenc' };
    case StartupCode.Cancel: {
      // 3.0 keys are 4 bytes; 3.2 allows up to 256.
      if (r.remaining < 8 || r.remaining > 4 + 256) throw new StartupParseError('invalid cancel request');
      const pid = r.int32();
      return { kind: 'cancel', pid, key: Buffer.from(r.rest()) };
    }
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) throw new StartupParseError(`unsupported frontend protocol ${major}.${minor}`);
  const params: Record<string, string> = Object.create(null);
  const protocolOptions: string[] = [];
  // Name/value pairs up to an empty name, which must be the packet's last byte
  // (ProcessStartupPacket: "invalid startup packet layout: expected terminator as last byte").
  for (;;) {
    if (r.remaining === 0) throw new StartupParseError('startup packet is not terminated');
    if (r.buf[r.pos] === 0) break;
    const key = r.cstring();
    const value = r.cstring();
    if (key.startsWith('_pq_.')) protocolOptions.push(key);
    else params[key] = value;
  }
  if (r.remaining !== 1) throw new StartupParseError('invalid startup packet layout');
  return { kind: 'startup', major, minor, params, protocolOptions };
}
