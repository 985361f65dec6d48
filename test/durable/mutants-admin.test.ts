/**
 * What an operator's tools read and do (`xstate-expire status | list | get |
 * delete`, through src/durable/admin*.ts), in this process: the CLI's own
 * tests run it as a child process, where a mutant is not active.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { type ClosingEntity, SCHEMA_VERSION } from '../../src/durable/index.js';
import { countByState, getStored, listStored, storeStatus, topState } from '../../src/durable/admin.js';
import { deleteStored, retryStored } from '../../src/durable/admin-calls.js';
import { T0, type TestDatabase, durableManager, eventually, useDatabase } from './support.js';

describe('durable admin reads and delete', () => {
  const database = useDatabase('pglite');
  let db: TestDatabase;
  beforeEach(() => void (db = database()));

  it('topState: the part of a leaf path before its first dot', () => {
    expect(topState('expired.queued')).toBe('expired');
    expect(topState('active')).toBe('active');
    expect(topState('a.b.c')).toBe('a');
    expect(topState('.x')).toBe('');
  });

  it('status, counts, list and get of a namespace with every kind of row; delete leaves a running close alone', async () => {
    await db.clock.set(T0);
    const { manager, closes } = await durableManager(db, { hold: true });
    const ns = manager.namespace;
    const other = await durableManager(db); // another namespace: never counted here
    await other.manager.new('elsewhere', T0 + 100_000, { closer: 'lease' });

    const empty = await storeStatus(db.store, ns);
    expect(empty).toEqual({ namespace: ns, schemaVersion: SCHEMA_VERSION, states: {}, earliestDeadline: null, now: T0 });
    expect(await countByState(db.store, ns)).toEqual({ active: 0, paused: 0, expired: 0, failed: 0 });

    await manager.new('closing', T0 + 10, { closer: 'lease', data: { n: 1 } });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(() => expect(closes.map((c) => c.entity.id)).toEqual(['closing']));
    // The same id again while its close runs: a live row and a closing one.
    await manager.new('closing', T0 + 900, { closer: 'session' });
    await manager.new('paused', T0 + 700, { closer: 'lease', data: ['p'] });
    await manager.stop('paused');
    await manager.new('active', T0 + 800, { closer: 'lease' });

    expect(await countByState(db.store, ns)).toEqual({ active: 2, paused: 1, expired: 0, failed: 0 });
    const status = await storeStatus(db.store, ns);
    expect(status).toEqual({
      namespace: ns,
      schemaVersion: SCHEMA_VERSION,
      states: { active: 2, 'expired.closing': 1, paused: 1 },
      earliestDeadline: T0 + 700,
      now: T0 + 10,
    });
    expect(Object.keys(status.states)).toEqual(['active', 'expired.closing', 'paused']);

    const all = await listStored(db.store, ns);
    expect(all.map((e) => [e.id, e.state, e.live])).toEqual([
      ['active', 'active', true],
      ['closing', 'expired.closing', false],
      ['closing', 'active', true],
      ['paused', 'paused', true],
    ]);
    const [closing, renewed] = all.filter((e) => e.id === 'closing');
    expect(closing).toEqual({
      id: 'closing',
      state: 'expired.closing',
      live: false,
      deadline: T0 + 10,
      closer: 'lease',
      data: { n: 1 },
      generation: closes[0]!.entity.generation,
      owner: manager.owner,
      leaseUntil: T0 + 10 + 60_000,
      holders: [],
      // The attempt's timeout (a closer's default: 5 minutes).
      due: T0 + 10 + 300_000,
    });
    expect(renewed).toMatchObject({ closer: 'session', data: null, owner: null, leaseUntil: null, holders: [], due: T0 + 900, deadline: T0 + 900 });
    // A pause: held by the process that took it, until its timeout unless renewed.
    expect(all.find((e) => e.id === 'paused')).toMatchObject({ owner: null, holders: [manager.owner], due: T0 + 10 + 60_000, deadline: T0 + 700 });
    expect(renewed!.generation).toBeGreaterThan(closing!.generation);
    expect((await listStored(db.store, ns, { state: 'expired' })).map((e) => e.id)).toEqual(['closing']);
    expect((await listStored(db.store, ns, { state: 'expired.closing' })).map((e) => e.id)).toEqual(['closing']);
    expect((await listStored(db.store, ns, { state: 'expired.queued' })).map((e) => e.id)).toEqual([]);
    expect((await listStored(db.store, ns, { state: 'paused' })).map((e) => [e.id, e.data])).toEqual([['paused', ['p']]]);
    expect((await listStored(db.store, ns, { limit: 2 })).map((e) => e.id)).toEqual(['active', 'closing']);
    expect(await getStored(db.store, ns, 'closing')).toEqual([closing, renewed]);
    expect(await getStored(db.store, ns, 'none')).toEqual([]);
    expect(await getStored(db.store, other.manager.namespace, 'elsewhere')).toHaveLength(1);

    // delete: the live row goes, without a close; the running close is not the operator's.
    expect(await deleteStored(db.store, ns, 'closing')).toBe(true);
    expect(await getStored(db.store, ns, 'closing')).toEqual([closing]);
    expect(await deleteStored(db.store, ns, 'closing')).toBe(false);
    expect(await deleteStored(db.store, ns, 'none')).toBe(false);
    expect(await deleteStored(db.store, ns, 'paused')).toBe(true);
    expect(await manager.has('paused')).toBe(false);
    expect(await manager.list()).toMatchObject([{ id: 'active' }]);
    closes[0]!.settle();
    await eventually(async () => expect(await getStored(db.store, ns, 'closing')).toEqual([]));
    await db.clock.set(T0 + 10_000);
    await manager.poll();
    // Deleted ones were never closed; only the one left live was.
    await eventually(() => expect(closes.map((c) => c.entity.id)).toEqual(['closing', 'active']));
    closes[1]!.settle();
    await manager.dispose();
    await other.manager.dispose();
  });

  it("retryStored: a failed row goes back to closing, left to a manager that it wakes (no poll) and that runs it at once", async () => {
    await db.clock.set(T0);
    const attempts: number[] = [];
    const close = (entity: ClosingEntity) => {
      attempts.push(entity.attempt);
      if (attempts.length <= 2) throw new Error(`boom ${attempts.length}`);
    };
    const { manager } = await durableManager(db, { closers: { lease: { close, retry: { attempts: 2, backoffMs: 0 } } } });
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await manager.new('b', T0 + 100_000, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await eventually(async () => {
      await manager.poll();
      expect(await manager.state('a')).toBe('failed');
    });
    // A failed row rests: no delayed event to come, no claim, no holder.
    expect(await getStored(db.store, manager.namespace, 'a')).toMatchObject([{ state: 'failed', live: true, due: null, owner: null, leaseUntil: null, holders: [] }]);
    expect(await retryStored(db.store, manager.namespace, 'nobody')).toBe(false);
    expect(await retryStored(db.store, manager.namespace, 'b')).toBe(false); // active: nothing to retry
    expect(await retryStored(db.store, manager.namespace, 'a')).toBe(true);
    // Not claimed by the tool (it runs no close): the manager, woken by its NOTIFY, runs it.
    await eventually(() => expect(attempts).toEqual([1, 2, 1]));
    await eventually(async () => expect(await manager.has('a')).toBe(false));
    expect(await manager.state('b')).toBe('active');
    await manager.dispose();
  });
});
