/**
 * The durable manager's API as a user and an operator see it, where the other
 * tests left a mutant of src/durable/manager.ts (its constructor, `new`,
 * `newMany`, the calls and reads, `list`, `dispose` and its close-all) alive:
 * what each refuses before any SQL, what a second process sees, when a
 * disposal ends and what it leaves behind.
 */
import { getEventListeners } from 'node:events';
import { beforeEach, describe, expect, it } from 'vitest';
import { T0, type TestDatabase, countingStore, durableManager, useDatabase } from './support.js';

describe('durable manager API', () => {
  const database = useDatabase('pglite');
  let db: TestDatabase;
  beforeEach(async () => {
    db = database();
    await db.clock.set(T0);
  });

  it('new with options that are not an object: the options TypeError, before any SQL', async () => {
    const counter = countingStore(db.store);
    const { manager } = await durableManager(db, { store: counter.store });
    const before = counter.counts.statements;
    for (const options of ['lease', 5, undefined]) {
      await expect(manager.new('a', T0 + 10, options as never)).rejects.toThrow(
        new TypeError('DurableExpireManager.new: options must be { closer, data? }'),
      );
    }
    expect(counter.counts.statements).toBe(before);
    await manager.dispose();
  });

  it('newMany with an item that is not an object: the TypeError names its index and shape, before any SQL', async () => {
    const counter = countingStore(db.store);
    const { manager } = await durableManager(db, { store: counter.store });
    const before = counter.counts.statements;
    for (const item of ['a', 7, undefined]) {
      await expect(manager.newMany([{ id: 'ok', deadline: T0 + 10, closer: 'lease' }, item as never])).rejects.toThrow(
        new TypeError('DurableExpireManager.newMany: entities[1] must be { id, deadline, closer, data? }'),
      );
    }
    expect(counter.counts.statements).toBe(before);
    expect(await manager.size()).toBe(0);
    await manager.dispose();
  });

  it('newMany([]) sends no SQL while running, and is refused once disposed', async () => {
    const counter = countingStore(db.store);
    const { manager } = await durableManager(db, { store: counter.store });
    const before = { ...counter.counts };
    await manager.newMany([]);
    expect(counter.counts).toEqual(before);
    await manager.dispose();
    await expect(manager.newMany([])).rejects.toThrow(new TypeError('DurableExpireManager.newMany: the manager is disposed (0 of 0 written)'));
  });

  it('dispose() takes its listener off the signal: a long-lived signal keeps no disposed manager', async () => {
    const controller = new AbortController();
    const { manager } = await durableManager(db, { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    await manager.dispose();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});
