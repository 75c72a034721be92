// The Sessions screen's slice, the replayer's slice (pages, cursor, playback, result grid) and
// the reports slice, over the fake API.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  advance,
  FRAME_PAGE,
  frameSummary,
  hexDump,
  MAX_IDLE_US,
  markOf,
  PageCache,
  resultGrid,
  statementIndexAt,
} from '../../renderer/src/state/replay.js';
import { toReportRequest } from '../../renderer/src/state/reports.js';
import {
  EMPTY_SESSIONS_QUERY,
  isQueryEmpty,
  localTimeToUs,
  pageLabel,
  toSessionSearch,
} from '../../renderer/src/state/sessions.js';
import { createAppStore } from '../../renderer/src/state/store.js';
import { parseRoute, replayRoute, routeHash } from '../../renderer/src/state/ui.js';
import { STATEMENT_MARK } from '../../shared/api.js';
import type { FrameView, StatementRecord } from '../../shared/types.js';
import { fakeApi, statement } from './fake-api.js';

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('sessions slice', () => {
  it('turns the form into a search: times, flags, paging', () => {
    const q = {
      ...EMPTY_SESSIONS_QUERY,
      text: '  drop table ',
      identity: 'agent-1',
      hasBlocked: true,
      page: 2,
    };
    assert.deepEqual(toSessionSearch(q, 50), {
      limit: 50,
      offset: 100,
      text: 'drop table',
      identity: 'agent-1',
      hasBlocked: true,
    });
    const since = localTimeToUs('2026-03-04T10:00')!;
    const until = localTimeToUs('2026-03-04T11:30')!;
    assert.equal(since, new Date('2026-03-04T10:00').getTime() * 1000);
    const s = toSessionSearch({
      ...EMPTY_SESSIONS_QUERY,
      since: '2026-03-04T10:00',
      until: '2026-03-04T11:30',
    });
    assert.equal(s.since, since);
    assert.equal(s.until, until + 59_999_999); // the whole last minute
    assert.equal(localTimeToUs(''), undefined);
    assert.equal(localTimeToUs('not a time'), undefined);
    assert.equal(isQueryEmpty(EMPTY_SESSIONS_QUERY), true);
    assert.equal(isQueryEmpty({ ...EMPTY_SESSIONS_QUERY, hasErrors: true }), false);
  });

  it('labels pages with exact or open totals', () => {
    assert.equal(pageLabel(0, 50, 0, 0, false), 'No sessions');
    assert.equal(pageLabel(0, 50, 50, 1234, true), '1–50 of 1,234');
    assert.equal(pageLabel(1, 50, 50, null, true), '51–100 of 100+');
    assert.equal(pageLabel(2, 50, 7, null, false), '101–107 of 107');
    assert.equal(pageLabel(3, 50, 0, null, false, 'statements'), 'Nothing past 150');
  });

  it('searches sessions or statements, goes back to page one on a new filter, drops late answers', async () => {
    const api = fakeApi();
    const store = createAppStore(api);
    const st = () => store.getState();
    st().setSessionsQuery({ page: 3 });
    assert.equal(st().sessions.query.page, 3);
    st().setSessionsQuery({ identity: 'bot' });
    assert.equal(st().sessions.query.page, 0);
    api.data.sessionResult = {
      sessions: [],
      total: 0,
      more: false,
    };
    await st().runSessionsSearch();
    assert.deepEqual(api.calls.at(-1), {
      method: 'searchSessions',
      args: [{ limit: 50, offset: 0, identity: 'bot' }],
    });
    assert.deepEqual(st().sessions.result, { sessions: [], total: 0, more: false });

    st().setSessionsQuery({ mode: 'statements', text: 'customers' });
    api.data.statementResult = {
      statements: [statement({ seq: 1, sql: 'select * from customers' })],
      more: true,
    };
    await st().runSessionsSearch();
    assert.deepEqual(api.calls.at(-1), { method: 'searchStatements', args: ['customers', 50, 0] });
    assert.equal(st().sessions.statements?.more, true);

    // Two searches in flight: the first answer to arrive late is dropped.
    api.data.statementResult = { statements: [], more: false };
    const a = st().runSessionsSearch();
    api.data.statementResult = { statements: [statement({ seq: 9 })], more: false };
    const b = st().runSessionsSearch();
    await Promise.all([a, b]);
    assert.equal(st().sessions.statements?.statements[0]?.seq, 9);

    api.failNext('searchStatements', 'store is gone');
    await st().runSessionsSearch();
    assert.equal(st().sessions.error, 'store is gone');
    assert.equal(st().sessions.loading, false);
  });
});

function frame(
  seq: number,
  type: string,
  t: number,
  decoded: Record<string, unknown> = {},
  dir: 'client' | 'server' = 'server',
): FrameView {
  return { seq, t_us: t, dir, type, decoded };
}

/** A session: startup (1..3), then statement 1 (4..10: Query, RowDescription, 3 DataRows, CommandComplete, ReadyForQuery), statement 2 (11..13). */
function session() {
  const frames: FrameView[] = [
    frame(1, 'StartupMessage', 0, { protocol: '3.0', parameters: { user: 'agent' } }, 'client'),
    frame(2, 'AuthenticationOk', 100),
    frame(3, 'ReadyForQuery', 200, { status: 'I' }),
    frame(4, 'Query', 1000, { sql: 'select id, email from customers' }, 'client'),
    frame(5, 'RowDescription', 1500, { fields: [{ name: 'id' }, { name: 'email' }] }),
    frame(6, 'DataRow', 1500, { values: ['1', 'a***@example.com'] }),
    frame(7, 'DataRow', 1500, { values: ['2', null] }),
    frame(8, 'DataRow', 1600, { values: ['3', 'c***@example.com'] }),
    frame(9, 'CommandComplete', 1600, { tag: 'SELECT 3' }),
    frame(10, 'ReadyForQuery', 1600, { status: 'I' }),
    frame(11, 'Query', 5_000_000, { sql: 'drop table customers' }, 'client'),
    frame(12, 'ErrorResponse', 5_000_100, { code: '42501', message: 'blocked' }),
    frame(13, 'ReadyForQuery', 5_000_100, { status: 'I' }),
  ];
  const marks = [1, 4, 10, 0, 2, 11, 13, STATEMENT_MARK.blocked | STATEMENT_MARK.error];
  return { frames, marks };
}

function cacheOf(frames: FrameView[], size = 5): PageCache<FrameView> {
  const c = new PageCache<FrameView>(size);
  for (let p = 0; p * size < frames.length; p++) c.put(p, frames.slice(p * size, (p + 1) * size));
  return c;
}

describe('replayer', () => {
  it('pages: numbering from 1, missing pages, eviction of far pages', () => {
    const c = new PageCache<number>(10, 3);
    assert.equal(c.pageOf(1), 0);
    assert.equal(c.pageOf(10), 0);
    assert.equal(c.pageOf(11), 1);
    assert.deepEqual(c.missing(-5, 25, 100), [0, 1, 2]);
    c.put(0, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    c.loading.add(1);
    assert.deepEqual(c.missing(1, 35, 100), [2, 3]);
    assert.deepEqual(c.missing(1, 35, 22), [2]);
    assert.equal(c.get(7), 7);
    c.put(5, []);
    c.put(6, []);
    c.put(7, [], 7); // four pages: the farthest from 7 (page 0) goes
    assert.equal(c.has(0), false);
    assert.equal(c.has(7), true);
    assert.equal(c.size, 3);
  });

  it('finds the statement at a frame and reads its flags', () => {
    const { marks } = session();
    assert.equal(statementIndexAt(marks, 1), -1);
    assert.equal(statementIndexAt(marks, 4), 0);
    assert.equal(statementIndexAt(marks, 10), 0);
    assert.equal(statementIndexAt(marks, 12), 1);
    assert.equal(statementIndexAt(marks, 99), 1);
    assert.deepEqual(markOf(marks, 1), {
      seq: 2,
      firstFrame: 11,
      lastFrame: 13,
      blocked: true,
      held: false,
      error: true,
      warn: false,
    });
  });

  it('builds the result grid as the client saw it at the cursor', () => {
    const { frames } = session();
    const c = cacheOf(frames);
    assert.equal(resultGrid(c, 4, 10, 4), null); // only the Query so far
    const at7 = resultGrid(c, 4, 10, 7)!;
    assert.deepEqual(at7.columns, ['id', 'email']);
    assert.deepEqual(
      at7.rows.map((r) => r.values),
      [
        ['1', 'a***@example.com'],
        ['2', null],
      ],
    );
    assert.equal(at7.current, 1);
    assert.equal(at7.total, 2);
    const after = resultGrid(c, 4, 10, 12)!;
    assert.equal(after.rows.length, 3);
    assert.equal(after.current, null);
    assert.equal(after.complete, true);
    // A page not read yet: incomplete.
    const partial = new PageCache<FrameView>(5);
    partial.put(0, frames.slice(0, 5));
    assert.equal(resultGrid(partial, 4, 10, 10)!.complete, false);
  });

  it('plays at the recorded speed: waits for the clock, cuts idle time, asks for pages, stops at the end', () => {
    const { frames } = session();
    const c = cacheOf(frames);
    let s = advance(c, 4, 1000, 13);
    assert.deepEqual(s, { cursor: 4, clockUs: 1000, need: null, done: false });
    s = advance(c, 4, 1550, 13);
    assert.equal(s.cursor, 7); // frames at 1500 µs
    s = advance(c, s.cursor, 1700, 13);
    assert.equal(s.cursor, 10);
    // Five idle seconds are cut to MAX_IDLE_US: the clock jumps ahead.
    s = advance(c, 10, 1700, 13);
    assert.equal(s.clockUs, 5_000_000 - MAX_IDLE_US);
    assert.equal(s.cursor, 10);
    s = advance(c, 10, 5_000_100, 13);
    assert.deepEqual(s, { cursor: 13, clockUs: 5_000_100, need: null, done: true });
    // A missing page is asked for.
    const holes = new PageCache<FrameView>(5);
    holes.put(0, frames.slice(0, 5));
    assert.equal(advance(holes, 5, 10_000, 13).need, 1);
  });

  it('opens a session, moves the cursor, steps over statements and plays through loaded pages', async () => {
    const api = fakeApi();
    const { frames, marks } = session();
    const statements: StatementRecord[] = [
      statement({ seq: 1, sql: 'select id, email from customers', firstFrame: 4, lastFrame: 10 }),
      statement({
        seq: 2,
        sql: 'drop table customers',
        decision: 'block',
        rule: 'no-drop',
        firstFrame: 11,
        lastFrame: 13,
      }),
    ];
    api.data.frames = frames;
    api.data.statements = statements;
    api.data.replay = {
      session: {
        id: 's1',
        identity: 'agent',
        authMethod: 'scram-sha-256',
        connection: 'app',
        clientAddress: '127.0.0.1:5000',
        applicationName: null,
        database: 'appdb',
        tls: false,
        protocol: '3.0',
        startedAt: 1,
        endedAt: 2,
        endReason: 'client terminated',
        statements: 2,
      },
      frames: 13,
      marks,
    };
    const store = createAppStore(api);
    const st = () => store.getState();
    await st().openReplay('s1', 5);
    assert.equal(st().replay.cursor, 5);
    assert.equal(st().replayData.frames.get(12)?.type, 'ErrorResponse');
    assert.equal(st().replayData.statements.get(2)?.rule, 'no-drop');
    assert.deepEqual(
      api.calls.filter((c) => c.method === 'readFrames').map((c) => c.args),
      [['s1', 1, FRAME_PAGE]],
    );
    st().stepFrame(100);
    assert.equal(st().replay.cursor, 13);
    st().stepFrame(-100);
    assert.equal(st().replay.cursor, 1);
    st().stepStatement(1);
    assert.equal(st().replay.cursor, 4);
    st().stepStatement(1);
    assert.equal(st().replay.cursor, 11);
    st().stepFrame(1);
    st().stepStatement(-1); // from inside a statement: its start
    assert.equal(st().replay.cursor, 11);
    st().stepStatement(-1);
    assert.equal(st().replay.cursor, 4);
    st().jumpToStatement(1);
    assert.equal(st().replay.cursor, 11);

    // Play from the first statement at x16: 1 ms of wall time is 16 ms recorded.
    st().seekFrame(4);
    st().setSpeed(16);
    st().setPlaying(true);
    st().playTick(0.04); // 640 µs recorded: to 1640 µs
    assert.equal(st().replay.cursor, 10);
    st().playTick(100_000); // far past the end
    assert.equal(st().replay.cursor, 13);
    assert.equal(st().replay.playing, false);
    // Playing again from the end starts over.
    st().setPlaying(true);
    assert.equal(st().replay.cursor, 1);
    st().setPlaying(false);

    // The bytes of a frame, read when the bytes view is open.
    st().seekFrame(4);
    st().setReplayPanel('bytes');
    await tick();
    assert.equal(st().replay.bytes?.seq, 4);

    // Another session: nothing of the first is kept.
    api.data.replay = null;
    await st().openReplay('nope');
    assert.equal(st().replay.error, 'No recorded session nope');
    assert.equal(st().replayData.frames.size, 0);
  });

  it('summarizes frames and dumps bytes', () => {
    const { frames } = session();
    assert.equal(frameSummary(frames[3]!), 'select id, email from customers');
    assert.equal(frameSummary(frames[4]!), 'id, email');
    assert.equal(frameSummary(frames[6]!), '2 | NULL');
    assert.equal(frameSummary(frames[11]!), '42501 blocked');
    assert.equal(frameSummary(frames[0]!), 'user=agent');
    assert.equal(frameSummary(frame(1, 'Bind', 0, { params: ['x', null] }, 'client')), '$1=x $2=NULL');
    assert.equal(
      hexDump('510000000d73656c6563742031000a'),
      '00000000  51 00 00 00 0d 73 65 6c  65 63 74 20 31 00 0a     Q....select 1..',
    );
  });

  it('routes to a session and a frame', () => {
    assert.deepEqual(parseRoute('#/replay/abc-123/42'), { screen: 'replay', id: 'abc-123/42' });
    assert.deepEqual(replayRoute('abc-123/42'), { sessionId: 'abc-123', frame: 42 });
    assert.deepEqual(replayRoute('abc-123'), { sessionId: 'abc-123', frame: null });
    assert.equal(routeHash({ screen: 'replay', id: 'abc-123/42' }), '#/replay/abc-123/42');
    assert.deepEqual(parseRoute('#/sessions/x'), { screen: 'sessions', id: null });
    assert.deepEqual(parseRoute('#/policies'), { screen: 'policies', id: null });
  });
});

describe('reports slice', () => {
  it('sends the scope and format, keeps the summary, refuses a reversed period', async () => {
    const api = fakeApi();
    const store = createAppStore(api, { now: () => 42 });
    const st = () => store.getState();
    st().setReportOptions({ format: 'csv', identity: 'agent-1', since: '2026-01-01T00:00' });
    assert.deepEqual(toReportRequest(st().reports.options), {
      format: 'csv',
      since: new Date('2026-01-01T00:00').getTime() * 1000,
      identity: 'agent-1',
    });
    const file = await st().exportReport();
    assert.equal(file?.base64, 'JVBERg==');
    assert.equal(st().reports.last?.fileName, 'bastion-report.pdf');
    assert.equal(st().reports.last?.at, 42);
    assert.equal('base64' in (st().reports.last ?? {}), false);
    st().setReportOptions({ until: '2025-01-01T00:00' });
    assert.equal(await st().exportReport(), null);
    assert.equal(st().reports.error, 'The period starts after it ends');
    st().setReportOptions({ until: '' });
    api.failNext('exportReport', 'disk full');
    assert.equal(await st().exportReport(), null);
    assert.equal(st().reports.error, 'disk full');
  });
});
