// Whether a connection's upstream user is a superuser. The guardrails are a second line: where
// the analyser misses something (see docs/architecture.md, "Let the server enforce"), the server
// stops only what the upstream user may not do, and a superuser may do everything (read and write
// server files, run programs, reset any role). The gateway says so once at start-up, per
// connection, and the UI shows it with the connection.

import type { UpstreamConfig } from '../config/types.js';
import { CatalogLink } from './catalog-link.js';

/** Asks the upstream on a short-lived link of the gateway's own; rejects when it cannot. */
export async function upstreamIsSuperuser(upstream: UpstreamConfig): Promise<boolean> {
  const link = new CatalogLink(upstream);
  try {
    const rows = await link.run('SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user');
    return rows[0]?.[0] === 't';
  } finally {
    link.close();
  }
}

export function superuserWarning(connection: string, user: string): string {
  return `connection "${connection}": upstream user "${user}" is a superuser: a statement the guardrails miss runs with every privilege (server files, programs, any role); give each identity an upstream_user or upstream_role with only the grants it needs`;
}
