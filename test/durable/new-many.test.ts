/**
 * `newMany`: the same as `new` for each item, in order, one transaction per
 * batch of 1,000; every item checked before any SQL, a TypeError naming the
 * index of the first bad one, nothing changed then. On PGlite.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { T0, type TestDatabase, countingStore, durableManager, eventually, useDatabase } from './support.js';

describe('DurableExpireManager.newMany', () => {
  const database = useDatabase('pglite');
  let db: TestDatabase;
  beforeEach(async () => {
    db = database();
    await db.clock.set(T0);
  });

  it('creates each entity as new does: deadline (absolute or ttl on the database clock), closer, data, a generation of its own', async () => {
    const { manager, closes } = await durableManager(db);
    await manager.newMany([
      { id: 'a', deadline: T0 + 1_000, closer: 'lease', data: { n: 1 } },
      { id: 'b', deadline: { ttlMs: 500 }, closer: 'session' },
      { id: 'c', deadline: new Date(T0 + 2_000), closer: 'lease', data: [1, 'x'] },
    ]);
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => manager.get(id)));
    expect(a).toMatchObject({ state: 'active', deadline: T0 + 1_000, closer: 'lease', data: { n: 1 } });
    expect(b).toMatchObject({ state: 'active', deadline: T0 + 500, closer: 'session', data: null });
    expect(c).toMatchObject({ state: 'active', deadline: T0 + 2_000, closer: 'lease', data: [1, 'x'] });
    expect(new Set([a!.generation, b!.generation, c!.generation]).size).toBe(3);
    // The same rows as new writes: the closes run at their deadlines.
    const reference = await durableManager(db, { namespace: manager.namespace });
    await reference.manager.new('d', T0 + 1_000, { closer: 'lease', data: { n: 1 } });
    const d = await reference.manager.get('d');
    expect({ ...d, id: 'a', generation: 0 }).toEqual({ ...a, generation: 0 });
    await reference.manager.dispose();
    await db.clock.set(T0 + 1_000);
    await manager.poll();
    expect(await manager.has('b')).toBe(false);
    expect(await manager.has('c')).toBe(true);
    await eventually(() => expect(closes.map((c) => c.entity.id).sort()).toEqual(['a', 'b', 'd']));
    await manager.dispose();
  });

  it('renews live ids through the statechart, in order: a later item for an id wins, and an earlier close never runs', async () => {
    const { manager, closes } = await durableManager(db);
    await manager.new('a', T0 + 100, { closer: 'lease', data: 'old' });
    const before = (await manager.get('a'))!.generation;
    await manager.stop('a');
    await manager.newMany([
      { id: 'a', deadline: T0 + 5_000, closer: 'session', data: 'first' },
      { id: 'n', deadline: T0 + 200, closer: 'lease' },
      { id: 'a', deadline: T0 + 300, closer: 'lease', data: 'second' },
      { id: 'n', deadline: T0 + 400, closer: 'session', data: 'again' },
    ]);
    const a = (await manager.get('a'))!;
    // A renewal of a paused entity arms it again (as new does): active, the last item's deadline.
    expect(a).toMatchObject({ state: 'active', deadline: T0 + 300, closer: 'lease', data: 'second' });
    expect(a.generation).toBeGreaterThan(before);
    expect(await manager.get('n')).toMatchObject({ state: 'active', deadline: T0 + 400, closer: 'session', data: 'again' });
    expect(await manager.size()).toBe(2);
    await db.clock.set(T0 + 1_000);
    await manager.poll();
    await eventually(() => expect(closes.map((c) => [c.entity.id, c.entity.data]).sort()).toEqual([['a', 'second'], ['n', 'again']]));
    expect(closes.find((c) => c.entity.id === 'a')!.entity.generation).toBe(a.generation);
    await eventually(async () => expect(await manager.size()).toBe(0));
    await manager.dispose();
  });

  it('one transaction per 1,000 items, in one round trip to open it and one to write the batch', async () => {
    const counter = countingStore(db.store);
    const { manager } = await durableManager(db, { store: counter.store });
    const items = Array.from({ length: 2_500 }, (_, i) => ({ id: `e${i}`, deadline: T0 + 60_000 + i, closer: 'lease', data: i }));
    const before = { ...counter.counts };
    await manager.newMany(items);
    expect(counter.counts.transactions - before.transactions).toBe(3);
    // Per batch: the read that opens it, the insert of the batch (PGlite's SET TRANSACTION is the store's own).
    expect(counter.counts.statements - before.statements).toBe(6);
    expect(await manager.size()).toBe(2_500);
    expect(await manager.get('e2499')).toMatchObject({ deadline: T0 + 62_499, data: 2_499 });
    // A second call renews them all: updates, in as many transactions.
    await manager.newMany(items.map((item) => ({ ...item, deadline: item.deadline + 1 })));
    expect(counter.counts.transactions - before.transactions).toBe(6);
    expect(await manager.size()).toBe(2_500);
    expect(await manager.get('e0')).toMatchObject({ deadline: T0 + 60_001, data: 0 });
    await manager.dispose();
  });

  it('bad input: a TypeError naming the index of the first bad item, before any SQL; nothing changes', async () => {
    const counter = countingStore(db.store);
    const { manager } = await durableManager(db, { store: counter.store });
    const good = { id: 'ok', deadline: T0 + 1_000, closer: 'lease' };
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    const cases: Array<[unknown, RegExp]> = [
      [undefined, /newMany: entities must be an array/],
      [{ 0: good }, /newMany: entities must be an array/],
      [[good, null], /newMany: entities\[1\] must be \{ id, deadline, closer, data\? \}/],
      [[good, good, { ...good, id: '' }], /newMany: entities\[2\]: id must be a non-empty string/],
      [[{ ...good, id: 'a\u0000' }], /newMany: entities\[0\]: id must be storable text/],
      [[good, { ...good, deadline: Number.NaN }], /newMany: entities\[1\]: deadline/],
      [[good, { ...good, deadline: { ttlMs: -1 } }], /newMany: entities\[1\]: deadline/],
      [[good, { ...good, closer: 'nope' }], /newMany: entities\[1\]: unknown closer "nope"; known: lease, session/],
      [[good, { ...good, closer: undefined }], /newMany: entities\[1\]: unknown closer/],
      [[good, { ...good, data: circular }], /newMany: entities\[1\]: data\.self must be JSON/],
      [[good, { ...good, data: () => 1 }], /newMany: entities\[1\]: data must be JSON/],
    ];
    for (const [entities, message] of cases) {
      const before = counter.counts.statements;
      await expect(manager.newMany(entities as never), String(message)).rejects.toThrow(TypeError);
      await expect(manager.newMany(entities as never)).rejects.toThrow(message);
      expect(counter.counts.statements).toBe(before);
    }
    expect(await manager.size()).toBe(0);
    await manager.newMany([]);
    expect(await manager.size()).toBe(0);
    await manager.dispose();
    await expect(manager.newMany([good])).rejects.toThrow(/newMany: the manager is disposed/);
  });

  it('while dispose({ close: true }) drains, it goes through new item by item: a new id is refused as new refuses it', async () => {
    const { manager, closes } = await durableManager(db, { hold: true });
    await manager.new('a', T0 + 100, { closer: 'lease' });
    await db.clock.set(T0 + 100);
    await manager.poll();
    await eventually(() => expect(closes).toHaveLength(1));
    const disposing = manager.dispose({ close: true });
    await eventually(() => expect(manager.status).toBe('draining'));
    await expect(manager.newMany([{ id: 'fresh', deadline: T0 + 1_000, closer: 'lease' }])).rejects.toThrow(/closing/);
    closes[0]!.settle();
    await disposing;
  });
});
