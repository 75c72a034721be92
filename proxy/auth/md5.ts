/**
 * Response to AuthenticationMD5Password (legacy `md5` auth), for upstreams that still use it.
 * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
 * https://www.postgresql.org/docs/current/auth-password.html
 *
 * PostgreSQL stores md5(password || user) and challenges with a random 4-byte salt; the client proves
 * knowledge with md5(hex(md5(password || user)) || salt). Send the result in a PasswordMessage.
 */
import { createHash } from 'node:crypto';

export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  const inner = md5hex(Buffer.from(password + user, 'utf8'));
  return `md5${md5hex(Buffer.concat([Buffer.from(inner, 'latin1'), salt]))}`;
}

function md5hex(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}
