// Verifying the shared store, one gateway's chain at a time: the chain walk with its prune ledger
// (chain.ts, retention.ts, exactly as for the local store), the chain's head against the head the
// gateway shipped, and the projections against the records that attest them.

import type { VerifyResult } from '../../../shared/types.js';
import { GENESIS, type RecordRow, walkChain } from '../chain.js';
import { decodePruneBody, decodeRemovedRanges, PRUNE_KIND, PruneLedger } from '../retention.js';
import type { Row } from './rows.js';
import type { SyncPgClient } from './sync-client.js';

export interface GatewayVerifyResult extends VerifyResult {
  gateway: string;
}

type Bad = { id: number; reason: string };
const PAGE = 2000;

function* records(db: SyncPgClient, gateway: string): Generator<RecordRow> {
  let after = 0;
  for (;;) {
    const rows = db.query<RecordRow & { id: number }>(
      `SELECT id, kind, session_id, t_us, digest, body FROM bastion.records
       WHERE gateway = $1 AND id > $2 ORDER BY id LIMIT ${PAGE}`,
      [gateway, after],
    );
    yield* rows;
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1].id;
  }
}

/**
 * Everything that declares records of a gateway's chain removed: its prune records (chained; their
 * checkpoints index them) and the months retention dropped (cuts), with the first bad one.
 */
export function gatewayLedger(db: SyncPgClient, gateway: string): { ledger: PruneLedger; bad?: Bad } {
  const ledger = new PruneLedger();
  let bad: Bad | undefined;
  for (const r of db.query(
    `SELECT c.id, c.record_id, c.digest, r.kind, r.body FROM bastion.checkpoints c
     LEFT JOIN bastion.records r ON r.gateway = c.gateway AND r.id = c.id WHERE c.gateway = $1 ORDER BY c.id`,
    [gateway],
  )) {
    try {
      if (r.kind !== PRUNE_KIND || !Buffer.isBuffer(r.body)) throw new Error('not a prune record');
      ledger.add(decodePruneBody(r.id as number, r.body));
    } catch {
      bad ??= {
        id: r.id as number,
        reason: `checkpoint ${r.id} is not attested by a valid prune record`,
      };
    }
  }
  // Months dropped by retention (partitions.ts): their ranges bridge the gaps as prune records' do.
  for (const c of db.query('SELECT id, part, ranges FROM bastion.cuts WHERE gateway = $1 ORDER BY id', [
    gateway,
  ])) {
    try {
      ledger.addRanges(decodeRemovedRanges(c.ranges));
    } catch {
      bad ??= { id: 0, reason: `the cut of month ${c.part} (cuts row ${c.id}) is malformed` };
    }
  }
  return bad ? { ledger, bad } : { ledger };
}

/** One gateway's chain and projections. Run inside one read-only snapshot (PgSessionStore does). */
export function verifyGateway(db: SyncPgClient, gateway: string): GatewayVerifyResult {
  const { ledger, bad: pruneBad } = gatewayLedger(db, gateway);
  const walk = walkChain(records(db, gateway), GENESIS, ledger.empty ? undefined : ledger);
  let head = walk.head;
  const result = (firstBad?: Bad): GatewayVerifyResult => ({
    gateway,
    ok: firstBad === undefined,
    records: walk.records,
    head: head === GENESIS ? null : head.digest.toString('hex'),
    ...(firstBad ? { firstBad } : {}),
  });
  if (walk.firstBad || pruneBad) {
    const a = walk.firstBad;
    const b = pruneBad;
    return result(a && b ? (a.id <= b.id ? a : b) : (a ?? b));
  }
  const [g] = db.query('SELECT head_id, head_digest FROM bastion.gateways WHERE name = $1', [gateway]);
  const headId = (g?.head_id as number | undefined) ?? 0;
  // A dropped month may have held the last records shipped: the cut states the head's digest.
  const cutHead =
    headId > walk.head.id && ledger.covers(walk.head.id + 1, headId) ? ledger.link(headId) : undefined;
  if (cutHead && Buffer.isBuffer(g.head_digest) && cutHead.equals(g.head_digest)) {
    head = { id: headId, digest: cutHead };
  } else if (walk.head.id < headId) {
    return result({
      id: walk.head.id + 1,
      reason: `record ${walk.head.id + 1} is missing (the gateway shipped up to ${headId})`,
    });
  }
  if (head.id > headId || (headId > 0 && !head.digest.equals(g.head_digest as Buffer))) {
    return result({
      id: walk.head.id,
      reason: 'the chain was rewritten: its head is not the one the gateway shipped',
    });
  }
  return result(checkProjections(db, gateway));
}

/** The projection mismatch with the lowest attesting record id, if any. */
function checkProjections(db: SyncPgClient, gateway: string): Bad | undefined {
  let first: Bad | undefined;
  const note = (bad: Bad | undefined) => {
    if (bad && (!first || bad.id < first.id)) first = bad;
  };
  const body = (r: Row) =>
    JSON.parse((r.body as Buffer).toString('utf8')) as Record<string, Record<string, unknown>>;
  for (const r of db.query(
    `SELECT s.*, o.kind AS r_kind, o.body, (SELECT count(*)::int FROM bastion.statements st WHERE st.session_id = s.id) AS n
     FROM bastion.sessions s LEFT JOIN bastion.records o ON o.gateway = s.gateway AND o.id = s.open_record_id
     WHERE s.gateway = $1`,
    [gateway],
  )) {
    const id = r.open_record_id as number;
    if (r.r_kind !== 'session_open') {
      note({ id, reason: `sessions row ${r.id} is not attested by record ${id}` });
      continue;
    }
    const s = body(r).session;
    const differ = ['id', 'identity', 'connection', 'clientAddress', 'startedAt'].filter((k) => {
      const col = {
        id: 'id',
        identity: 'identity',
        connection: 'connection',
        clientAddress: 'client_address',
        startedAt: 'started_at',
      }[k]!;
      return s[k] !== r[col];
    });
    if (differ.length)
      note({ id, reason: `sessions row ${r.id} differs from record ${id} in ${differ.join(', ')}` });
    else if (r.n !== r.statements) {
      note({ id, reason: `sessions row ${r.id} counts ${r.statements} statements, ${r.n} are recorded` });
    }
  }
  for (const r of db.query(
    `SELECT st.session_id, st.seq, st.sql, st.decision, st.started_at, st.rows, st.error_code, st.record_id,
       r.kind AS r_kind, r.session_id AS r_sid, r.body
     FROM bastion.statements st LEFT JOIN bastion.records r ON r.gateway = st.gateway AND r.id = st.record_id
     WHERE st.gateway = $1`,
    [gateway],
  )) {
    const id = r.record_id as number;
    const where = `statements row (session ${r.session_id}, seq ${r.seq})`;
    if (r.r_kind !== 'statement' || r.r_sid !== r.session_id) {
      note({ id, reason: `${where} is not attested by record ${id}` });
      continue;
    }
    const s = body(r).statement;
    const pairs: [string, string][] = [
      ['seq', 'seq'],
      ['sql', 'sql'],
      ['decision', 'decision'],
      ['startedAt', 'started_at'],
      ['rows', 'rows'],
      ['errorCode', 'error_code'],
    ];
    const differ = pairs.filter(([k, col]) => (s[k] ?? null) !== r[col]).map(([k]) => k);
    if (differ.length) note({ id, reason: `${where} differs from record ${id} in ${differ.join(', ')}` });
  }
  const [unattested] = db.query(
    `SELECT min(x.id) AS id FROM (
       SELECT a.record_id AS id FROM bastion.approvals a
         LEFT JOIN bastion.records r ON r.gateway = a.gateway AND r.id = a.record_id
         WHERE a.gateway = $1 AND (r.kind IS DISTINCT FROM 'approval' OR r.session_id <> a.session_id)
       UNION ALL SELECT f.record_id FROM bastion.frame_chunks f
         LEFT JOIN bastion.records r ON r.gateway = f.gateway AND r.id = f.record_id
         WHERE f.gateway = $1 AND (r.kind IS DISTINCT FROM 'frames' OR r.session_id <> f.session_id)) x`,
    [gateway],
  );
  if (unattested?.id != null) {
    const id = unattested.id as number;
    note({ id, reason: `a projection row names record ${id}, which does not attest it` });
  }
  // Every record must be attested by a projection row; set operations, not a lookup per record.
  const [orphan] = db.query(
    `SELECT r.id, r.kind FROM bastion.records r WHERE r.gateway = $1 AND r.id = (
       SELECT min(id) FROM (
         SELECT id FROM bastion.records WHERE gateway = $1
         EXCEPT (
           SELECT open_record_id FROM bastion.sessions WHERE gateway = $1
           UNION ALL SELECT close_record_id FROM bastion.sessions WHERE gateway = $1 AND close_record_id IS NOT NULL
           UNION ALL SELECT record_id FROM bastion.statements WHERE gateway = $1
           UNION ALL SELECT record_id FROM bastion.frame_chunks WHERE gateway = $1
           UNION ALL SELECT request_record_id FROM bastion.approvals WHERE gateway = $1
           UNION ALL SELECT record_id FROM bastion.approvals WHERE gateway = $1
           UNION ALL SELECT id FROM bastion.policy_changes WHERE gateway = $1
           UNION ALL SELECT id FROM bastion.checkpoints WHERE gateway = $1)) x)`,
    [gateway],
  );
  if (orphan)
    note({ id: orphan.id as number, reason: `record ${orphan.id} (${orphan.kind}) has no projection row` });
  return first;
}
