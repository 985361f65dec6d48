/**
 * Completions written in batches: closes that end together commit in one
 * transaction, each still fenced by owner and generation, and two failures of
 * one id in one batch hand back one live row, not two. On PGlite.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ClosingEntity } from '../../src/durable/index.js';
import { T0, type TestDatabase, countingStore, durableManager, eventually, useDatabase } from './support.js';

describe('durable completions in batches', () => {
  const database = useDatabase('pglite');
  let db: TestDatabase;
  beforeEach(async () => {
    db = database();
    await db.clock.set(T0);
  });

  it('50 closes that end together: each runs once, every row goes, in far fewer transactions than closes', async () => {
    const counter = countingStore(db.store);
    const { manager, closes } = await durableManager(db, { store: counter.store });
    await manager.newMany(Array.from({ length: 50 }, (_, i) => ({ id: `e${i}`, deadline: T0 + 10, closer: 'lease' })));
    await db.clock.set(T0 + 10);
    const before = counter.counts.transactions;
    await manager.poll();
    await eventually(async () => expect(await manager.size()).toBe(0));
    await eventually(async () => expect(await db.store.query(`SELECT 1 FROM ${db.store.schema}.entities WHERE namespace = $1`, [manager.namespace])).toEqual([]));
    expect(closes.map((c) => c.entity.id).sort()).toEqual(Array.from({ length: 50 }, (_, i) => `e${i}`).sort());
    // One claim for all 50, then completions batched (one at a time, 50 would be 51 and more).
    expect(counter.counts.transactions - before).toBeLessThan(10);
    await manager.dispose();
  });

  it('two failed closes of one id in one batch: one is handed back live (retrying), the other is superseded', async () => {
    const failures: Array<() => void> = [];
    const closer = (_entity: ClosingEntity) => new Promise<void>((_resolve, reject) => failures.push(() => reject(new Error('down'))));
    const counter = countingStore(db.store);
    const { manager, errors } = await durableManager(db, {
      store: counter.store,
      closers: { lease: { close: closer, retry: { attempts: 3, backoffMs: 1_000 } } },
    });
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(() => expect(failures).toHaveLength(1));
    await manager.new('a', T0 + 20, { closer: 'lease' }); // a new incarnation while the first closes
    await db.clock.set(T0 + 20);
    await manager.poll();
    await eventually(() => expect(failures).toHaveLength(2));
    for (const fail of failures) fail(); // both end in one tick: one batch
    await eventually(() => expect(errors).toHaveLength(2));
    await eventually(async () => {
      const rows = await db.store.query(`SELECT state, live FROM ${db.store.schema}.entities WHERE namespace = $1 ORDER BY generation`, [manager.namespace]);
      expect(rows.filter((row) => row.live)).toHaveLength(1);
      expect(rows.filter((row) => !row.live)).toHaveLength(0);
    });
    expect(await manager.state('a')).toBe('expired');
    // Decided in the batch, not by a unique violation and a retry one by one.
    expect(counter.counts.rolledBack).toBe(0);
    await manager.dispose();
  });
});
