// Class 7: an approval covers what was approved. The harness approves what is held while the
// harmless first execution runs (`approving`), and denies everything held after it; a later
// execution with other parameters that is not held again runs unreviewed and changes the table.
import type { CustomContext } from '../types.js';
import type { Draft } from './make.js';
import { numbered, ok } from './make.js';
import { exchange, parse, q, run } from './session-helpers.js';

/** Approves whatever is held while `step` runs, then goes back to denying everything. */
async function approving<T>(ctx: CustomContext, step: () => Promise<T>): Promise<T> {
  ctx.decide(() => 'approve');
  try {
    return await step();
  } finally {
    ctx.decide(() => 'deny');
  }
}

const custom = (desc: string, f: (ctx: CustomContext) => Promise<void>): Draft => ({
  identity: 'dflt',
  desc,
  expect: 'refused',
  custom: f,
});

export const APPROVALS = numbered('approvals', 'appr', [
  custom(
    'a named statement approved with a harmless Bind, executed again with WHERE $1 = true',
    async (ctx) => {
      const c = await ctx.login();
      await approving(ctx, async () => {
        await exchange(c, parse('s', 'DELETE FROM adv.t WHERE $1'));
        await exchange(c, run('s', ['false']));
      });
      await exchange(c, run('s', ['true']));
      c.destroy();
    },
  ),
  custom('both executions in one pipeline', async (ctx) => {
    const c = await ctx.login();
    await approving(ctx, () => exchange(c, parse('s', 'DELETE FROM adv.t WHERE $1')));
    // Approved only while nothing of the pipeline was answered yet: the hold of the first Execute.
    const base = c.received;
    ctx.decide(() => (c.received === base ? 'approve' : 'deny'));
    await exchange(c, Buffer.concat([run('s', ['false']), run('s', ['true'])]), 2);
    c.destroy();
  }),
  custom('the unnamed statement, bound twice', async (ctx) => {
    const c = await ctx.login();
    await approving(ctx, async () => {
      await exchange(c, parse('', 'DELETE FROM adv.t WHERE $1'));
      await exchange(c, run('', ['false']));
    });
    await exchange(c, run('', ['true']));
    c.destroy();
  }),
  custom('SQL PREPARE: EXECUTE d(false) approved, then EXECUTE d(true)', async (ctx) => {
    const c = await ctx.login();
    await approving(ctx, async () => {
      await exchange(c, q('PREPARE d(boolean) AS DELETE FROM adv.t WHERE $1'));
      await exchange(c, q('EXECUTE d(false)'));
    });
    await exchange(c, q('EXECUTE d(true)'));
    c.destroy();
  }),
  custom('an UPDATE approved with WHERE false, executed again with true', async (ctx) => {
    const c = await ctx.login();
    await approving(ctx, async () => {
      await exchange(c, parse('u', 'UPDATE adv.t SET v = $2 WHERE $1'));
      await exchange(c, run('u', ['false', 'harmless']));
    });
    await exchange(c, run('u', ['true', 'pwned']));
    c.destroy();
  }),
  custom('a protocol statement approved, then run by SQL EXECUTE with other values', async (ctx) => {
    const c = await ctx.login();
    await approving(ctx, async () => {
      await exchange(c, parse('s2', 'DELETE FROM adv.t WHERE $1'));
      await exchange(c, run('s2', ['false']));
    });
    await exchange(c, q('EXECUTE s2(true)'));
    c.destroy();
  }),
  custom('the same text parsed again under a new name after an approval', async (ctx) => {
    const c = await ctx.login();
    await approving(ctx, async () => {
      await exchange(c, parse('a', 'DELETE FROM adv.t WHERE $1'));
      await exchange(c, run('a', ['false']));
    });
    await exchange(c, parse('b', 'DELETE FROM adv.t WHERE $1'));
    await exchange(c, run('b', ['true']));
    c.destroy();
  }),
  custom('an approval reused from a second session with the same text', async (ctx) => {
    const a = await ctx.login();
    await approving(ctx, async () => {
      await exchange(a, parse('s', 'DELETE FROM adv.t WHERE $1'));
      await exchange(a, run('s', ['false']));
    });
    const b = await ctx.login();
    await exchange(b, parse('s', 'DELETE FROM adv.t WHERE $1'));
    await exchange(b, run('s', ['true']));
    a.destroy();
    b.destroy();
  }),
  custom('a denied statement is not approved by sending it again', async (ctx) => {
    ctx.decide(() => 'deny');
    const c = await ctx.login();
    await exchange(c, q('DELETE FROM adv.t'));
    await exchange(c, q('DELETE FROM adv.t'));
    c.destroy();
  }),
  custom('an approved simple DELETE ... WHERE false, then the WHERE changed by a parameter', async (ctx) => {
    const c = await ctx.login();
    await approving(ctx, () => exchange(c, q('DELETE FROM adv.t WHERE false')));
    await exchange(c, parse('', 'DELETE FROM adv.t WHERE $1::boolean OR false'));
    await exchange(c, run('', ['true']));
    c.destroy();
  }),
  custom(
    'a held DELETE approved with parameter 0 rows, Bind reused through a new portal name',
    async (ctx) => {
      const c = await ctx.login();
      await approving(ctx, async () => {
        await exchange(c, parse('p', 'DELETE FROM adv.t WHERE $1 AND now() IS NOT NULL'));
        await exchange(c, run('p', ['false']));
      });
      await exchange(c, run('p', ['true']));
      c.destroy();
    },
  ),
  custom('a PREPAREd MERGE approved once, then run with a parameter that matches everything', async (ctx) => {
    const c = await ctx.login();
    await approving(ctx, async () => {
      await exchange(
        c,
        q('PREPARE m(boolean) AS MERGE INTO adv.t USING (SELECT 1) s ON $1 WHEN MATCHED THEN DELETE'),
      );
      await exchange(c, q('EXECUTE m(false)'));
    });
    await exchange(c, q('EXECUTE m(true)'));
    c.destroy();
  }),
  ok(
    'dflt',
    'control: a DELETE with a real WHERE through a named statement runs without a hold',
    ['DELETE FROM adv.t WHERE id = $1'],
    { params: ['5'], via: ['extended'], verify: 'SELECT count(*) = 4 FROM adv.t' },
  ),
]);
