// Class 8: a policy change reaches open sessions. A session opens under the default policy, the
// policy is saved stricter through the gateway's API, and the same open session then writes: the
// write must be refused (the table unchanged). The original policies are put back afterwards.

import { functionCallMessage } from '../runner.js';
import type { CustomContext } from '../types.js';
import type { Draft } from './make.js';
import { numbered } from './make.js';
import { exchange, parse, q, rows, run } from './session-helpers.js';

const READONLY = `readonly:
  read_only: true
  approval_timeout: 10s
`;
const DEFAULT_READ_ONLY = `default:
  read_only: true
  approval_timeout: 10s
${READONLY}`;
const BLOCK = (kind: string) => `default:
  approval_timeout: 10s
  guardrails:
    - name: adv-no-${kind}
      match: { kind: [${kind}] }
      action: block
    - default
${READONLY}`;

/** Runs `before` in an open session, saves `yaml`, runs `after` in the same session, restores. */
function reload(
  desc: string,
  yaml: string,
  steps: (ctx: CustomContext, switchPolicy: () => Promise<void>) => Promise<void>,
): Draft {
  return {
    identity: 'dflt',
    desc,
    expect: 'refused',
    custom: async (ctx) => {
      const original = ((await ctx.api('getPolicies', [])) as { yaml: string }).yaml;
      try {
        await steps(ctx, async () => {
          const r = (await ctx.api('savePolicies', [yaml, 'adv-harness'])) as {
            ok: boolean;
            problems: unknown[];
          };
          if (!r.ok) throw new Error(`savePolicies refused: ${JSON.stringify(r.problems)}`);
        });
      } finally {
        await ctx.api('savePolicies', [original, 'adv-harness']);
      }
    },
  };
}

export const POLICY_RELOAD = numbered('policy-reload', 'reload', [
  reload('default becomes read_only; the open session deletes a row', DEFAULT_READ_ONLY, async (ctx, sw) => {
    const c = await ctx.login();
    await exchange(c, q('SELECT 1'));
    await sw();
    await exchange(c, q('DELETE FROM adv.t WHERE id = 1'));
    c.destroy();
  }),
  reload(
    'default becomes read_only; the open session advances the sequence',
    DEFAULT_READ_ONLY,
    async (ctx, sw) => {
      const c = await ctx.login();
      await exchange(c, q('SELECT 1'));
      await sw();
      await exchange(c, q("SELECT nextval('adv.seq')"));
      c.destroy();
    },
  ),
  reload('a block on DELETE is added; the open session deletes', BLOCK('delete'), async (ctx, sw) => {
    const c = await ctx.login();
    await exchange(c, q('SELECT 1'));
    await sw();
    await exchange(c, q('DELETE FROM adv.t WHERE id = 2'));
    c.destroy();
  }),
  reload(
    'a block on UPDATE is added; a statement prepared before is executed after',
    BLOCK('update'),
    async (ctx, sw) => {
      const c = await ctx.login();
      await exchange(c, parse('u', "UPDATE adv.t SET v = 'x' WHERE id = $1"));
      await sw();
      await exchange(c, run('u', ['1']));
      c.destroy();
    },
  ),
  reload(
    'a block on DELETE is added; SQL PREPARE before, EXECUTE after',
    BLOCK('delete'),
    async (ctx, sw) => {
      const c = await ctx.login();
      await exchange(c, q('PREPARE d(int) AS DELETE FROM adv.t WHERE id = $1'));
      await sw();
      await exchange(c, q('EXECUTE d(3)'));
      c.destroy();
    },
  ),
  reload('default becomes read_only inside an open transaction', DEFAULT_READ_ONLY, async (ctx, sw) => {
    const c = await ctx.login();
    await exchange(c, q('BEGIN'));
    await sw();
    await exchange(c, q("INSERT INTO adv.t VALUES (77, 'x')"));
    await exchange(c, q('COMMIT'));
    c.destroy();
  }),
  reload(
    'default becomes read_only; the exact text ran before the change (decision cache)',
    DEFAULT_READ_ONLY,
    async (ctx, sw) => {
      const c = await ctx.login();
      await exchange(c, q("INSERT INTO adv.t VALUES (60, 'a')"));
      await exchange(c, q('DELETE FROM adv.t WHERE id = 60'));
      await sw();
      await exchange(c, q('DELETE FROM adv.t WHERE id = 4'));
      c.destroy();
    },
  ),
  reload('a block on INSERT is added; two open sessions both insert', BLOCK('insert'), async (ctx, sw) => {
    const a = await ctx.login();
    const b = await ctx.login();
    await exchange(a, q('SELECT 1'));
    await exchange(b, q('SELECT 1'));
    await sw();
    await exchange(a, q("INSERT INTO adv.t VALUES (61, 'a')"));
    await exchange(b, q("INSERT INTO adv.t VALUES (62, 'b')"));
    a.destroy();
    b.destroy();
  }),
  reload(
    'default becomes read_only; a FunctionCall of setval in the open session',
    DEFAULT_READ_ONLY,
    async (ctx, sw) => {
      const c = await ctx.login();
      const oid = Number(
        (await rows(c, "SELECT 'pg_catalog.setval(regclass,bigint)'::regprocedure::oid::int"))[0],
      );
      await sw();
      await exchange(c, functionCallMessage(oid, ['adv.seq', '99']));
      c.destroy();
    },
  ),
  reload('sanity: a session opened after the change is refused too', DEFAULT_READ_ONLY, async (ctx, sw) => {
    await sw();
    const c = await ctx.login();
    await exchange(c, q('DELETE FROM adv.t WHERE id = 5'));
    c.destroy();
  }),
]);
