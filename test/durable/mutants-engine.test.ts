/**
 * The durable engine's own rules, on a store that records statements instead
 * of running them: what it retries, what it asks of the database (and what it
 * does not), and how a row changes under each event and lease.
 */
import { DEFAULT_CLOSE_POLICY } from '../../src/durable/closers.js';
import { describe, expect, it } from 'vitest';
import { compileMachine } from '../../src/machines/compile.js';
import { expirationMachine } from '../../src/machines/expiration.js';
import { CLOSE_TIMED_OUT, MANAGER_DISPOSED } from '../../src/machines/effects.js';
import { type ClosePolicy, type Draft, DurableEngine, Step, keyOf } from '../../src/durable/engine.js';
import type { DurableStore, Query, Row } from '../../src/durable/store.js';

/** A store whose statements are recorded and answered by `answer`. */
function recording(answer: (sql: string, params: readonly unknown[]) => Row[] = () => [{ now: 100, generation: 7 }]) {
  const statements: Array<{ sql: string; params: readonly unknown[] }> = [];
  let transactions = 0;
  const query: Query = async (sql, params = []) => {
    statements.push({ sql, params });
    return answer(sql, params);
  };
  const store: DurableStore = {
    kind: 'fake',
    schema: 'sch',
    acquire: async () => {},
    release: async () => {},
    listen: async () => async () => {},
    query,
    transaction: async (work) => {
      transactions++;
      return work(query);
    },
  };
  return { store, statements, transactions: () => transactions };
}

const table = () => compileMachine(expirationMachine);
const engineOn = (store: DurableStore, canClose = true) =>
  new DurableEngine(store, 'ns', 'me', table(), 3_000, 2_000, () => {}, { canClose: () => canClose, policyOf: () => DEFAULT_CLOSE_POLICY });

function draft(fields: Partial<Draft> = {}): Draft {
  return {
    id: 'a',
    generation: 5,
    state: 'active',
    live: true,
    deadline: 1_000,
    due: 1_000,
    closer: 'lease',
    data: null,
    owner: null,
    leaseState: null,
    leaseUntil: null,
    leaseMs: null,
    leaseEvent: null,
    holders: [],
    attempt: 0,
    lastError: null,
    closeDeadline: null,
    key: 5,
    ended: false,
    ...fields,
  };
}

describe('DurableEngine transactions', () => {
  it('runs work on the database time, drawing a generation only when asked; cuts off a frozen transaction after claimTimeoutMs', async () => {
    const { store, statements } = recording();
    const engine = engineOn(store);
    const step = await engine.transaction(async (s) => s);
    expect(step).toMatchObject({ now: 100, generation: undefined, earliest: Infinity });
    expect(statements[0]!.sql).toBe(`SELECT set_config('idle_in_transaction_session_timeout', $1, true), sch.now_ms() AS now`);
    expect(statements[0]!.params).toEqual(['3000']);
    const drawn = await engine.transaction(async (s) => s, { generation: true });
    expect(drawn).toMatchObject({ now: 100, generation: 7 });
    expect(statements[1]!.sql).toContain(`, nextval('sch.generations')::float8 AS generation`);
  });

  it('retries a unique violation, a serialization failure and a deadlock, five times at most; nothing else', async () => {
    for (const code of ['23505', '40001', '40P01']) {
      let calls = 0;
      const store = recording().store;
      store.transaction = async () => {
        calls++;
        throw Object.assign(new Error(code), { code });
      };
      await expect(engineOn(store).transaction(async () => 1)).rejects.toThrow(code);
      expect(calls, code).toBe(6);
      let flaky = 0;
      store.transaction = async (work) => {
        if (flaky++ < 2) throw Object.assign(new Error(code), { code });
        return work(async () => [{ now: 1 }]);
      };
      expect(await engineOn(store).transaction(async () => 'done')).toBe('done');
      expect(flaky).toBe(3);
    }
    for (const error of [Object.assign(new Error('42P01'), { code: '42P01' }), new Error('no code'), Object.assign(new Error('x'), { code: 23505 })]) {
      let calls = 0;
      const store = recording().store;
      store.transaction = async () => {
        calls++;
        throw error;
      };
      await expect(engineOn(store).transaction(async () => 1)).rejects.toBe(error);
      expect(calls).toBe(1);
    }
  });

  it('a generation needed but not drawn is an error, not a reused number', async () => {
    const engine = engineOn(recording().store);
    await expect(engine.create(new Step(async () => [], 100), 'a', 1_000, 'lease', null)).rejects.toThrow(
      'durable manager: a generation was needed but not drawn',
    );
  });

  it('refuses a statechart with an action it has no durable meaning for', () => {
    const compiled = table();
    const leaf = compiled.leaves.find((l) => l.path === 'paused')!;
    const [transition] = leaf.on.get('start')!;
    // The compiled table is shared (compileMachine caches it): the extra action is taken out again.
    const ops = transition!.ops as unknown[];
    ops.push({ kind: 'effect', name: 'sendEmail' });
    try {
      expect(() => new DurableEngine(recording().store, 'ns', 'me', compiled, 3_000, 2_000, () => {}, { canClose: () => true, policyOf: () => DEFAULT_CLOSE_POLICY })).toThrow(
        'durable manager: no effect for the action "sendEmail" (state "expiration.paused")',
      );
    } finally {
      ops.pop();
    }
  });
});

describe('DurableEngine rows', () => {
  it('create: active, due at the deadline, with the drawn generation; expired at once when past due', async () => {
    const engine = engineOn(recording().store);
    const step = new Step(async () => [], 100, 9);
    const created = await engine.create(step, 'a', 1_000, 'lease', { x: 1 });
    expect(created).toEqual(
      draft({ generation: 9, deadline: 1_000, due: 1_000, data: { x: 1 }, key: undefined }),
    );
  });

  it('send: a transition when the state takes the event, none otherwise; leases and holders last only in their state', async () => {
    const engine = engineOn(recording().store, false);
    const step = new Step(async () => [], 100, 9);
    const row = draft();
    expect(await engine.send(step, row, { type: 'start' })).toBe(false);
    expect(await engine.send(step, draft({ state: 'nowhere' }), { type: 'stop' })).toBe(false);
    expect(await engine.send(step, row, { type: 'stop' })).toBe(true);
    // The pause's timeout is its due time (pauseTimeoutMs from now); the deadline is kept.
    expect(row).toMatchObject({ state: 'paused', due: 2_100, deadline: 1_000, leaseEvent: null });
    engine.holdPause(step, row);
    expect(row).toMatchObject({ owner: null, leaseUntil: null, holders: ['me'] });
    expect(step.pauses).toEqual(['a#5']);
    // Another updater joins: the timeout starts again from now, the holders stay.
    const later = new Step(async () => [], 700, 9);
    expect(await engine.send(later, row, { type: 'stop' })).toBe(true);
    expect(row).toMatchObject({ state: 'paused', due: 2_700, holders: ['me'] });
    expect(await engine.send(step, row, { type: 'expire' })).toBe(true);
    // Expired: the pause's lease and holders are gone; the close waits to be claimed (nobody can close here).
    expect(row).toMatchObject({ state: 'expired.queued', owner: null, leaseUntil: 100, leaseMs: null, leaseEvent: 'close', leaseState: 'expired.queued', holders: [] });
    expect(step.claims).toEqual([]);
    expect(engine.peek(row, { type: 'close' }, 100)?.target).toBeDefined();
    expect(engine.peek(row, { type: 'stop' }, 100)).toBeUndefined();
    expect(engine.peek(draft({ state: 'nowhere' }), { type: 'stop' }, 100)).toBeUndefined();
    expect(engine.startsClose(row, { type: 'close' }, 100)).toBe(true);
    expect(engine.startsClose(row, { type: 'delete' }, 100)).toBe(false);
    expect(engine.startsClose(draft({ state: 'expired.closing' }), { type: 'reclaim' }, 100)).toBe(true);
    expect(engine.startsClose(draft({ state: 'nowhere' }), { type: 'close' }, 100)).toBe(false);
    // Transitions that do something else: queue a close (an effect), end one, pause.
    expect(engine.startsClose(draft(), { type: 'shutdown' }, 100)).toBe(false);
    expect(engine.startsClose(draft({ state: 'expired.closing' }), { type: 'settled' }, 100)).toBe(false);
    expect(engine.startsClose(draft(), { type: 'stop' }, 100)).toBe(false);
    expect(await engine.send(step, row, { type: 'delete' })).toBe(true);
    expect(row).toMatchObject({ state: 'deleted', ended: true });
  });

  it('queueClose claims at once where this process can close: closing, not live, its lease the claim; dispose aborts it', async () => {
    const engine = engineOn(recording().store, true);
    const step = new Step(async () => [], 100, 9);
    const row = draft({ data: { d: 1 } });
    await engine.send(step, row, { type: 'stop' });
    await engine.send(step, row, { type: 'expire' });
    expect(row).toMatchObject({ state: 'expired.closing', live: false, owner: 'me', leaseUntil: 3_100, leaseMs: 3_000, leaseEvent: 'reclaim' });
    expect(step.claims).toEqual([{ id: 'a', generation: 5, deadline: 1_000, closer: 'lease', data: { d: 1 }, attempt: 1 }]);
    expect(step.mailbox).toEqual([]);
    expect(await engine.send(step, row, { type: 'dispose' })).toBe(true);
    expect(step.aborts).toEqual([['a#5', MANAGER_DISPOSED]]);
    expect(row).toMatchObject({ state: 'closed', ended: true });
  });

  it('a renewal takes the step generation, deadline, closer and data', async () => {
    const engine = engineOn(recording().store);
    const step = new Step(async () => [], 100, 11);
    const row = draft();
    await engine.send(step, row, { type: 'renew', deadline: 5_000, close: { closer: 'session', data: [2] } } as never);
    expect(row).toMatchObject({ state: 'active', generation: 11, deadline: 5_000, due: 5_000, closer: 'session', data: [2], key: 5 });
  });

  it('the pause: held by each caller once, released to the other holders', () => {
    const engine = engineOn(recording().store);
    const row = draft({ state: 'paused', due: 2_100 });
    const first = new Step(async () => [], 100);
    engine.holdPause(first, row);
    engine.holdPause(first, row);
    expect(row).toMatchObject({ holders: ['me'], due: 2_100 });
    expect(first.pauses).toEqual(['a#5', 'a#5']);
    row.holders = ['other', 'me'];
    expect(engine.releasePause(row)).toBe(true);
    expect(row).toMatchObject({ holders: ['other'] });
    const theirs = draft({ state: 'paused', holders: ['third'] });
    expect(engine.releasePause(theirs)).toBe(true);
    expect(theirs).toMatchObject({ holders: ['third'] });
    const mine = draft({ state: 'paused', owner: 'me', holders: ['me'] });
    expect(engine.releasePause(mine)).toBe(false);
    expect(mine).toMatchObject({ holders: [], owner: 'me' });
    engine.releaseNow(new Step(async () => [], 400), mine);
    expect(mine.leaseUntil).toBe(400);
    engine.endLease(mine);
    expect(mine).toMatchObject({ owner: null, leaseUntil: null, leaseMs: null, leaseEvent: null, leaseState: null });
  });

  it('write: insert a new row, update by its old key, delete an ended one; the earliest due or lease end is kept', async () => {
    const { store, statements } = recording();
    const engine = engineOn(store);
    const step = new Step(store.query, 100);
    const fresh = draft({ key: undefined, due: 800, leaseUntil: 700 });
    await engine.write(step, fresh);
    expect(statements.at(-1)!.sql).toMatch(/^INSERT INTO sch\.entities/);
    expect(statements.at(-1)!.params).toEqual(['ns', 'a', 5, 'active', true, 1_000, 800, 'lease', 'null', null, null, 700, null, null, [], 0, null, null]);
    expect(fresh.key).toBe(5);
    expect(step.earliest).toBe(700);
    const renewed = draft({ generation: 6, key: 5, due: 900, data: { x: 1 } });
    await engine.write(step, renewed);
    expect(statements.at(-1)!.sql).toMatch(/^UPDATE sch\.entities SET generation = \$3/);
    expect(statements.at(-1)!.params.at(-1)).toBe(5);
    expect(statements.at(-1)!.params[8]).toBe('{"x":1}');
    expect(renewed.key).toBe(6);
    expect(step.earliest).toBe(700);
    await engine.write(step, draft({ due: 50, leaseUntil: 60 }));
    expect(step.earliest).toBe(50);
    const count = statements.length;
    await engine.write(step, draft({ ended: true, key: undefined, due: 1 }));
    expect(statements.length).toBe(count); // never inserted: nothing to delete
    await engine.write(step, draft({ ended: true, key: 4, due: 1 }));
    expect(statements.at(-1)).toEqual({ sql: 'DELETE FROM sch.entities WHERE namespace = $1 AND id = $2 AND generation = $3', params: ['ns', 'a', 4] });
    expect(step.earliest).toBe(50);
  });

  it('notify: only for a time sooner than `within` from now, to the schema channel with the namespace', async () => {
    const { store, statements } = recording();
    const engine = engineOn(store);
    const step = new Step(store.query, 100);
    await engine.notify(step, 50);
    step.earliest = 150;
    await engine.notify(step, 50);
    expect(statements).toEqual([]);
    await engine.notify(step, 51);
    expect(statements).toEqual([{ sql: 'SELECT pg_notify($1, $2)', params: ['sch', 'ns\n150'] }]);
  });
});

describe('DurableEngine leases and reads', () => {
  it('renews claims and pauses by key (an id may hold #), reports the lost ones, and asks nothing for none', async () => {
    const answers: Row[][] = [];
    const { store, statements, transactions } = recording((sql) => (sql.startsWith('SELECT set_config') ? [{ now: 100 }] : (answers.shift() ?? [])));
    const engine = engineOn(store);
    expect(await engine.renewClaims([])).toEqual([]);
    expect(await engine.renewPauses([])).toEqual([]);
    expect(transactions()).toBe(0);
    const keys = [keyOf('a#b', 5), keyOf('c', 6)];
    expect(keys).toEqual(['a#b#5', 'c#6']);
    answers.push([{ key: 'a#b#5' }]);
    expect(await engine.renewClaims(keys)).toEqual(['c#6']);
    const claim = statements.at(-1)!;
    expect(claim.sql).toContain(`owner = $2 AND lease_event = 'reclaim' AND (id, generation) IN (SELECT unnest($4::text[]), unnest($5::bigint[]))`);
    expect(claim.params).toEqual(['ns', 'me', 100, ['a#b', 'c'], ['5', '6']]);
    answers.push([], [{ key: 'c#6' }]);
    expect(await engine.renewPauses(keys)).toEqual(['a#b#5']);
    const [update, select] = statements.slice(-2);
    expect(update!.sql).toContain(`SET due = greatest(due, $2::float8 + $3::float8)`);
    expect(update!.sql).toContain(`state = 'paused' AND $4 = ANY(holders)`);
    expect(update!.params).toEqual(['ns', 100, 2_000, 'me', ['a#b', 'c'], ['5', '6']]);
    expect(select!.params).toEqual(['ns', ['a#b', 'c'], ['5', '6']]);
  });

  it('reads: keys counted, the next time to wake, rows by key and due', async () => {
    let answer: Row[] = [];
    const { store, statements } = recording(() => answer);
    const engine = engineOn(store);
    answer = [{ n: 3 }];
    expect(await engine.countUnsettled(['x#1'])).toBe(3);
    answer = [];
    expect(await engine.countUnsettled(['x#1'])).toBe(0);
    expect(await engine.next(['lease'])).toBeUndefined();
    answer = [{ at: null, now: 5 }];
    expect(await engine.next(['lease'])).toBeUndefined();
    answer = [{ at: '70', now: '5' }];
    expect(await engine.next(['lease'])).toEqual({ at: 70, now: 5 });
    const step = new Step(store.query, 100);
    const row = {
      id: 'a', generation: '5', state: 'paused', live: true, deadline: '1000', due: null, closer: 'lease', data: null,
      owner: null, lease_state: null, lease_until: null, lease_ms: null, lease_event: null, holders: null,
    };
    answer = [row];
    expect(await engine.byKey(step, 'a', 5)).toEqual(draft({ state: 'paused', due: null }));
    expect(statements.at(-1)!.params).toEqual(['ns', 'a', 5, null]);
    await engine.byKey(step, 'a', 5, 'me');
    expect(statements.at(-1)!.params).toEqual(['ns', 'a', 5, 'me']);
    answer = [{ ...row, due: '10', owner: 'o', lease_state: 'paused', lease_until: '20', lease_ms: '30', lease_event: 'start', holders: ['o'] }];
    expect(await engine.live(step, 'a')).toEqual(
      draft({ state: 'paused', due: 10, owner: 'o', leaseState: 'paused', leaseUntil: 20, leaseMs: 30, leaseEvent: 'start', holders: ['o'] }),
    );
    answer = [];
    expect(await engine.live(step, 'a')).toBeUndefined();
    expect(await engine.byKey(step, 'a', 5)).toBeUndefined();
    expect(engine.top('expired.closing')).toBe('expired');
    expect(engine.top('active')).toBe('active');
    expect(engine.top('unknown.leaf')).toBe('unknown.leaf');
    expect(engine.delayedEvent(draft())).toBeDefined();
    expect(engine.delayedEvent(draft({ state: 'paused' }))).toBe('xstate.after.pauseTimeout.expiration.paused');
    expect(engine.delayedEvent(draft({ state: 'expired.queued' }))).toBeUndefined();
    expect(engine.delayedEvent(draft({ state: 'unknown' }))).toBeUndefined();
  });
});

describe('DurableEngine closes', () => {
  const withPolicy = (store: DurableStore, policy: ClosePolicy) =>
    new DurableEngine(store, 'ns', 'me', table(), 3_000, 2_000, () => {}, { canClose: () => true, policyOf: () => policy });
  /** A store that answers the id check with `taken` rows and records the ids it was asked. */
  const idCheck = (taken: Row[] = []) => {
    const asked: unknown[][] = [];
    const query: Query = async (sql, params = []) => {
      if (sql.includes('AS taken')) asked.push([...params]);
      return taken;
    };
    return { query, asked };
  };

  it('a close: its timeout is its due time (none without a timeout); the deadline it leaves is no due time', async () => {
    const engine = engineOn(recording().store, false);
    const step = new Step(async () => [], 100, 9);
    const row = draft();
    expect(await engine.send(step, row, { type: 'shutdown' })).toBe(true);
    expect(row).toMatchObject({ state: 'expired.queued', due: null, leaseEvent: 'close', leaseUntil: 100 });
    expect(await engine.send(step, row, { type: 'close' })).toBe(true);
    expect(row).toMatchObject({ state: 'expired.closing', attempt: 1, closeDeadline: 300_100, due: 300_100 });
    const untimed = withPolicy(recording().store, { ...DEFAULT_CLOSE_POLICY, closeTimeoutMs: undefined });
    const other = draft({ state: 'expired.queued', due: null });
    await untimed.send(step, other, { type: 'close' });
    expect(other).toMatchObject({ state: 'expired.closing', attempt: 1, closeDeadline: null, due: null });
  });

  it('a close that runs past its timeout: its signal aborts, the failure is reported, and the entity goes back live to retry', async () => {
    const engine = engineOn(recording().store);
    const { query, asked } = idCheck();
    const step = new Step(query, 300_100, 9);
    const row = draft({ state: 'expired.closing', live: false, due: 300_100, attempt: 1, closeDeadline: 300_100, owner: 'me', leaseUntil: 3_100, leaseMs: 3_000, leaseEvent: 'reclaim', leaseState: 'expired.closing' });
    expect(engine.delayedEvent(row)).toBe('xstate.after.closeTimeout.expiration.expired.closing');
    expect(await engine.send(step, row, { type: engine.delayedEvent(row)! })).toBe(true);
    expect(step.aborts).toEqual([['a#5', CLOSE_TIMED_OUT]]);
    expect(step.reports).toEqual([['a', CLOSE_TIMED_OUT]]);
    expect(asked).toEqual([['ns', 'a', 5]]);
    expect(row).toMatchObject({ state: 'expired.retrying', live: true, attempt: 1, lastError: CLOSE_TIMED_OUT.message, closeDeadline: 300_100, owner: null, leaseUntil: null, leaseEvent: null });
    expect(row.due).toBeGreaterThan(300_100);
    expect(step.rejoined).toEqual(new Set(['a']));
  });

  it('a failed close asks once whether its id is taken: taken by a live row or by a rejoin of this step, it is superseded', async () => {
    const engine = engineOn(recording().store);
    const closing = (fields: Partial<Draft> = {}) => draft({ state: 'expired.closing', live: false, due: null, attempt: 1, ...fields });
    const failed = { type: 'failed', error: new Error('boom') };
    // Settled: nothing to hand back, nothing asked.
    const free = idCheck();
    const settled = closing();
    expect(await engine.send(new Step(free.query, 100), settled, { type: 'settled' })).toBe(true);
    expect(settled).toMatchObject({ state: 'closed', ended: true });
    expect(free.asked).toEqual([]);
    // A live row, and a row whose answer is known already, ask nothing either.
    expect(await engine.send(new Step(free.query, 100), draft(), { type: 'start' })).toBe(false);
    const known = closing({ idTaken: true });
    await engine.send(new Step(free.query, 100), known, failed);
    expect(free.asked).toEqual([]);
    expect(known).toMatchObject({ state: 'deleted', ended: true, live: false });
    // Free: handed back live, and the id taken for the rest of the step.
    const step = new Step(free.query, 100);
    const first = closing();
    await engine.send(step, first, failed);
    expect(free.asked).toEqual([['ns', 'a', 5]]);
    expect(first).toMatchObject({ state: 'expired.retrying', live: true, idTaken: false, lastError: 'boom', ended: false });
    const second = closing({ generation: 4, key: 4 });
    await engine.send(step, second, failed);
    expect(free.asked).toEqual([['ns', 'a', 5], ['ns', 'a', 4]]);
    expect(second).toMatchObject({ state: 'deleted', idTaken: true, live: false, ended: true });
    // Taken by a live row of another generation.
    const taken = idCheck([{ taken: 1 }]);
    const renewed = closing();
    await engine.send(new Step(taken.query, 100), renewed, failed);
    expect(renewed).toMatchObject({ state: 'deleted', idTaken: true, live: false, ended: true });
  });
});

describe('DurableEngine batches and rows read back', () => {
  it('writeAll: one statement per kind of change, only for the kinds present; one draft is written as write() does', async () => {
    const { store, statements } = recording();
    const engine = engineOn(store);
    const step = new Step(store.query, 100);
    const gone = draft({ id: 'g#1', ended: true, key: 4 });
    const never = draft({ id: 'n', ended: true, key: undefined, due: 1 });
    const renewed = draft({ id: 'u', generation: 6, key: 5, due: 900, data: { x: 1 } });
    const created = draft({ id: 'c', generation: 7, key: undefined, due: 800, leaseUntil: 750 });
    await engine.writeAll(step, [gone, never, renewed, created]);
    expect(statements.map((s) => s.sql.split(' ')[0])).toEqual(['DELETE', 'UPDATE', 'INSERT']);
    expect(statements[0]!.params).toEqual(['ns', ['g#1'], ['4']]);
    const updates = JSON.parse(statements[1]!.params[1] as string) as Array<Record<string, unknown>>;
    expect(updates).toEqual([expect.objectContaining({ id: 'u', generation: 6, key: 5, due: 900, data: '{"x":1}', holders: [], lease_until: null })]);
    const inserts = JSON.parse(statements[2]!.params[1] as string) as Array<Record<string, unknown>>;
    expect(inserts).toEqual([
      {
        id: 'c', generation: 7, state: 'active', live: true, deadline: 1_000, due: 800, closer: 'lease', data: 'null', owner: null,
        lease_state: null, lease_until: 750, lease_ms: null, lease_event: null, holders: [], attempt: 0, last_error: null, close_deadline: null,
      },
    ]);
    expect([gone.key, never.key, renewed.key, created.key]).toEqual([4, undefined, 6, 7]);
    expect(step.earliest).toBe(750);
    // The earliest of all the drafts (what the wake-ups aim at), not the last one's.
    const soonest = new Step(store.query, 100);
    await engine.writeAll(soonest, [draft({ id: 'p', key: undefined, due: 300 }), draft({ id: 'q', key: undefined, due: 900, leaseUntil: 950 })]);
    expect(soonest.earliest).toBe(300);
    statements.length = 0;
    await engine.writeAll(step, [draft({ id: 'x', key: undefined }), draft({ id: 'y', key: undefined })]);
    expect(statements.map((s) => s.sql.split(' ')[0])).toEqual(['INSERT']);
    statements.length = 0;
    await engine.writeAll(step, [draft({ id: 'x' }), draft({ id: 'y', ended: true, key: undefined })]);
    expect(statements.map((s) => s.sql.split(' ')[0])).toEqual(['UPDATE']);
    statements.length = 0;
    await engine.writeAll(step, [draft({ id: 'x', ended: true }), draft({ id: 'y', ended: true })]);
    expect(statements.map((s) => s.sql.split(' ')[0])).toEqual(['DELETE']);
    statements.length = 0;
    await engine.writeAll(step, [draft({ id: 'one', key: undefined })]);
    expect(statements).toEqual([expect.objectContaining({ sql: expect.stringMatching(/^INSERT INTO sch\.entities \(namespace, id/) })]);
    expect(statements[0]!.params.slice(0, 3)).toEqual(['ns', 'one', 5]);
  });

  it('a row read back: numbers as numbers, absent columns as null or 0, a close deadline kept', async () => {
    let answer: Row[] = [];
    const { store } = recording(() => answer);
    const engine = engineOn(store);
    const step = new Step(store.query, 100);
    const row = {
      id: 'a', generation: '5', state: 'expired.retrying', live: true, deadline: '1000', due: '2000', closer: 'lease', data: { d: [1] },
      owner: null, lease_state: null, lease_until: null, lease_ms: null, lease_event: null, holders: [],
      attempt: '2', last_error: 'boom', close_deadline: '1500',
    };
    answer = [row];
    expect(await engine.live(step, 'a')).toEqual(
      draft({ state: 'expired.retrying', due: 2_000, data: { d: [1] }, attempt: 2, lastError: 'boom', closeDeadline: 1_500 }),
    );
    answer = [{ ...row, data: null, attempt: 0, last_error: null, close_deadline: null }];
    expect(await engine.live(step, 'a')).toEqual(draft({ state: 'expired.retrying', due: 2_000, closeDeadline: null }));
  });

  it('a lease lasts only in the state it was taken in; a new attempt keeps the last error until it fails too', async () => {
    const engine = engineOn(recording().store, false);
    const step = new Step(async () => [], 100, 9);
    const queued = draft({ state: 'expired.queued', due: null, owner: null, leaseUntil: 50, leaseEvent: 'close', leaseState: 'expired.queued', attempt: 1, lastError: 'boom' });
    await engine.send(step, queued, { type: 'close' });
    expect(queued).toMatchObject({ state: 'expired.closing', attempt: 2, lastError: 'boom', owner: 'me', leaseEvent: 'reclaim', leaseState: 'expired.closing' });
    const renewed = draft({ state: 'expired.queued', due: null, owner: null, leaseUntil: 50, leaseEvent: 'close', leaseState: 'expired.queued' });
    await engine.send(step, renewed, { type: 'renew', deadline: 5_000, close: { closer: 'lease', data: null } } as never);
    expect(renewed).toMatchObject({ state: 'active', generation: 9, due: 5_000, owner: null, leaseUntil: null, leaseMs: null, leaseEvent: null, leaseState: null });
  });
});
