/**
 * What each of plans.ts's statements does, as a user or an operator sees it.
 * The statements are built once per schema (plansFor): only a test that builds
 * them for its own schema runs a changed statement, so each test here opens a
 * database of its own (a schema of its own in a mutation run) and makes its
 * first manager inside the test.
 */
import { describe, expect, it } from 'vitest';
import { CLOSE_SETTLED } from '../../src/index.js';
import { getStored } from '../../src/durable/admin.js';
import { DEFAULT_CLOSE_POLICY } from '../../src/durable/closers.js';
import { DurableEngine, keyOf } from '../../src/durable/engine.js';
import { compileMachine } from '../../src/machines/compile.js';
import { expirationMachine } from '../../src/machines/expiration.js';
import { T0, type TestDatabase, countingStore, durableManager, eventually, renewedWhileClosing, useDatabase } from './support.js';

/** A test on a database of its own, opened before it and closed after it. */
function alone(name: string, test: (db: TestDatabase) => Promise<void>): void {
  describe(name, () => {
    const database = useDatabase('pglite');
    it(name, () => test(database()));
  });
}

/** An engine of `owner` on the store, as another manager's would be (leases of 60 s). */
const engineOf = (db: TestDatabase, namespace: string, owner: string) =>
  new DurableEngine(db.store, namespace, owner, compileMachine(expirationMachine), 60_000, 60_000, () => {}, {
    canClose: () => false,
    policyOf: () => DEFAULT_CLOSE_POLICY,
  });

describe('the durable statements (plans.ts)', () => {
  alone('a plain dispose lets go of its pause: another process sees the saved deadline resume at once', async (db) => {
    const m = await durableManager(db);
    await db.clock.set(T0);
    await m.manager.new('a', T0 + 1_000, { closer: 'lease' });
    expect(await m.manager.stop('a')).toBe(true);
    await m.manager.dispose();
    const other = await durableManager(db, { namespace: m.manager.namespace });
    expect(await other.manager.get('a')).toMatchObject({ state: 'active', deadline: T0 + 1_000 });
    await other.manager.dispose();
  });

  alone('a running close keeps its claim while its owner renews it; another owner renews nothing and learns it lost', async (db) => {
    const m = await durableManager(db, { hold: true });
    const ns = m.manager.namespace;
    await db.clock.set(T0);
    await m.manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await m.manager.poll();
    await eventually(() => expect(m.closes).toHaveLength(1));
    const key = keyOf('a', m.closes[0]!.entity.generation);
    await db.clock.set(T0 + 50_000);
    // The heartbeat's renewal, as the owner makes it: the claim now ends claimTimeoutMs from the database's now.
    expect(await engineOf(db, ns, m.manager.owner).renewClaims([key])).toEqual([]);
    expect(await getStored(db.store, ns, 'a')).toEqual([expect.objectContaining({ owner: m.manager.owner, leaseUntil: T0 + 110_000 })]);
    expect(await engineOf(db, ns, 'thief').renewClaims([key])).toEqual([key]);
    expect(await getStored(db.store, ns, 'a')).toEqual([expect.objectContaining({ owner: m.manager.owner, leaseUntil: T0 + 110_000 })]);
    m.closes[0]!.settle();
    await eventually(async () => expect(await getStored(db.store, ns, 'a')).toEqual([]));
    expect(m.closes[0]!.signal.reason).toBe(CLOSE_SETTLED);
    await m.manager.dispose();
  });

  alone('a manager that starts after an entity was armed elsewhere closes it at its deadline on its own timer: no poll, no notification', async (db) => {
    const first = await durableManager(db, { pollIntervalMs: 600_000 });
    await db.clock.set(T0);
    await first.manager.new('a', T0 + 300, { closer: 'lease' });
    await first.manager.dispose();
    // Its NOTIFY went out before this one listened: only its first pass tells it when to look.
    const second = await durableManager(db, { namespace: first.manager.namespace, pollIntervalMs: 600_000 });
    await db.clock.set(T0 + 300);
    await eventually(() => expect(second.closes.map((c) => c.entity.id)).toEqual(['a']));
    await second.manager.dispose();
  });

  alone('a NOTIFY from the process that armed an entity wakes another manager in time, long before its poll', async (db) => {
    const m = await durableManager(db, { pollIntervalMs: 600_000 });
    const other = await durableManager(db, { namespace: m.manager.namespace, pollIntervalMs: 600_000 });
    await db.clock.set(T0);
    await other.manager.new('a', T0 + 30, { closer: 'lease' });
    await other.manager.dispose(); // it will not close 'a' itself
    await db.clock.set(T0 + 30);
    await eventually(() => expect(m.closes.map((c) => c.entity.id)).toEqual(['a']));
    await m.manager.dispose();
  });

  alone('dispose({ close: true }) closes every live entity and waits for each close to end on its own, unaborted', async (db) => {
    const counting = countingStore(db.store);
    const m = await durableManager(db, { store: counting.store, hold: true });
    await db.clock.set(T0);
    await m.manager.new('a', T0 + 100_000, { closer: 'lease' });
    await m.manager.new('b', T0 + 100_000, { closer: 'session' });
    let disposed = false;
    const closing = m.manager.dispose({ close: true }).then(() => void (disposed = true));
    await eventually(() => expect(m.closes.map((c) => c.entity.id).sort()).toEqual(['a', 'b']));
    // It keeps looking (a count of what is left, a pass, again) while the closes run.
    const seen = counting.counts.statements;
    await eventually(() => expect(counting.counts.statements).toBeGreaterThan(seen + 6));
    expect(m.closes.map((c) => c.signal.aborted)).toEqual([false, false]);
    expect(disposed).toBe(false);
    expect(m.manager.status).toBe('draining');
    for (const close of m.closes) close.settle();
    await closing;
    expect(m.closes.map((c) => c.signal.reason)).toEqual([CLOSE_SETTLED, CLOSE_SETTLED]);
    const after = await durableManager(db, { namespace: m.manager.namespace });
    expect(await after.manager.size()).toBe(0);
    await after.manager.dispose();
  });

  alone('a failed close whose id was renewed meanwhile is not handed back: the renewal stays the one live row', async (db) => {
    const { manager, errors, calls, fail } = await renewedWhileClosing(db);
    const ns = () => calls.map((entity) => (entity.data as { n: number }).n);
    expect(ns()).toEqual([1]);
    const renewal = (await manager.get('a'))!.generation;
    const failure = new Error('old failed');
    fail(failure);
    await eventually(async () => expect(await getStored(db.store, manager.namespace, 'a')).toHaveLength(1));
    expect(await getStored(db.store, manager.namespace, 'a')).toEqual([
      expect.objectContaining({ state: 'active', live: true, generation: renewal, data: { n: 2 } }),
    ]);
    expect(errors).toEqual([{ id: 'a', error: failure }]);
    await manager.poll();
    expect(ns()).toEqual([1]);
    await manager.dispose();
  });
});
