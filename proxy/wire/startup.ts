// Untyped startup-phase packets: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.
// https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-STARTUPMESSAGE

import { StartupCode } from './codes.js';

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

export class StartupParseError extends Error {}

/** `body` is the packet after its int32 length. */
export function parseStartupPacket(body: Buffer): StartupPacket {
  if (body.length < 4) throw new StartupParseError('startup packet too short');
  const code = body.readInt32BE(0);
  switch (code) {
    case StartupCode.SSL:
      return { kind: 'ssl' };
    case StartupCode.GSSENC:
      return { kind: 'gssenc' };
    case StartupCode.Cancel: {
      // 3.0 keys are 4 bytes; 3.2 allows up to 256.
      if (body.length < 12 || body.length > 8 + 256) throw new StartupParseError('invalid cancel request');
      return { kind: 'cancel', pid: body.readInt32BE(4), key: Buffer.from(body.subarray(8)) };
    }
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) throw new StartupParseError(`unsupported frontend protocol ${major}.${minor}`);
  const params: Record<string, string> = Object.create(null);
  const protocolOptions: string[] = [];
  let pos = 4;
  for (;;) {
    if (pos >= body.length) throw new StartupParseError('startup packet is not terminated');
    if (body[pos] === 0) break;
    const keyEnd = body.indexOf(0, pos);
    if (keyEnd < 0) throw new StartupParseError('invalid startup packet layout');
    const valueEnd = body.indexOf(0, keyEnd + 1);
    if (valueEnd < 0) throw new StartupParseError('invalid startup packet layout');
    const key = body.toString('utf8', pos, keyEnd);
    const value = body.toString('utf8', keyEnd + 1, valueEnd);
    if (key.startsWith('_pq_.')) protocolOptions.push(key);
    else params[key] = value;
    pos = valueEnd + 1;
  }
  if (pos !== body.length - 1) throw new StartupParseError('invalid startup packet layout');
  return { kind: 'startup', major, minor, params, protocolOptions };
}
