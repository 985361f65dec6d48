/**
 * Promises of the durable manager that only a real server can show: several
 * connections (row locks another process holds, a LISTEN connection that
 * drops), a database whose default isolation is stricter than READ COMMITTED,
 * and a pool of the user's opened and closed again and again.
 */
import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { createDurableExpireManager, postgresStore } from '../../src/durable/index.js';
import { T0, type TestDatabase, databaseKinds, durableManager, eventually, holdClock, useDatabase, userPool } from './support.js';

describe.skipIf(!(databaseKinds as readonly string[]).includes('postgres'))('durable manager on a real PostgreSQL server', () => {
  const database = useDatabase('postgres');
  let db: TestDatabase;
  beforeEach(() => void (db = database()));

  it('a pass never blocks behind rows another process holds locked', async () => {
    const { manager, closes } = await durableManager(db);
    await db.clock.set(T0);
    await manager.new('locked', T0 + 10, { closer: 'lease' });
    await manager.new('free', T0 + 10, { closer: 'lease' });
    const other = new pg.Client({ connectionString: db.server!.connectionString });
    await other.connect();
    try {
      await other.query('BEGIN');
      const locked = await other.query(
        `SELECT 1 FROM ${db.store.schema}.entities WHERE namespace = $1 AND id = 'locked' FOR UPDATE`,
        [manager.namespace],
      );
      expect(locked.rowCount).toBe(1);
      await db.clock.set(T0 + 10); // both due, only once the lock is held
      await manager.poll(); // resolves while the lock is held
      await eventually(() => expect(closes.map((c) => c.entity.id)).toEqual(['free']));
    } finally {
      await other.query('ROLLBACK');
      await other.end();
    }
    await manager.poll();
    await eventually(() => expect(closes.map((c) => c.entity.id).sort()).toEqual(['free', 'locked']));
    await manager.dispose();
  });

  it('after its LISTEN connection comes back, a manager runs a catch-up pass at once', async () => {
    const m = await durableManager(db, { pollIntervalMs: 600_000 });
    const other = await durableManager(db, { namespace: m.manager.namespace, pollIntervalMs: 10 });
    await db.clock.set(T0);
    // Due beyond the other's poll interval: it notifies nobody, and m has no timer for it.
    await other.manager.new('a', T0 + 1_000, { closer: 'lease' });
    await other.manager.dispose();
    await db.clock.set(T0 + 1_000);
    const admin = new pg.Client({ connectionString: db.server!.connectionString });
    await admin.connect();
    try {
      const { rows } = await admin.query(`SELECT pid FROM pg_stat_activity WHERE query = $1`, [`LISTEN ${db.store.schema}`]);
      expect(rows.length).toBeGreaterThan(0);
      for (const { pid } of rows) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    } finally {
      await admin.end();
    }
    await eventually(() => expect(m.closes.map((c) => c.entity.id)).toEqual(['a']), 15_000);
    await m.manager.dispose();
  });

  it('on a database whose default isolation is SERIALIZABLE: two processes open a fresh schema at once and race stop/new on one id without an error', async () => {
    const admin = new pg.Client({ connectionString: db.server!.connectionString });
    await admin.connect();
    await admin.query(`ALTER DATABASE postgres SET default_transaction_isolation = 'serializable'`);
    const theirs = userPool(db.server!.connectionString, 4);
    const schema = `iso_${process.pid}`;
    try {
      const stores = [postgresStore({ connectionString: db.server!.connectionString, schema }), postgresStore({ pool: theirs, schema })];
      const managers = await Promise.all(
        stores.map((store) =>
          createDurableExpireManager({ store, closers: { lease: () => {} }, namespace: 'race', pollIntervalMs: 50 }),
        ),
      );
      await holdClock(stores[0]!);
      const [a, b] = managers as [(typeof managers)[0], (typeof managers)[0]];
      const errors: unknown[] = [];
      const race = async (manager: typeof a, n: number) => {
        for (let i = 0; i < n; i++) {
          await Promise.all([
            manager.new('x', { ttlMs: 60_000 }, { closer: 'lease' }).catch((e) => errors.push(e)),
            manager.stop('x').catch((e) => errors.push(e)),
            manager.start('x').catch((e) => errors.push(e)),
          ]);
        }
      };
      await Promise.all([race(a, 30), race(b, 30)]);
      expect(errors).toEqual([]);
      expect(await a.has('x')).toBe(true);
      await Promise.all(managers.map((m) => m.dispose()));
    } finally {
      await admin.query(`ALTER DATABASE postgres RESET default_transaction_isolation`);
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
      await theirs.end();
    }
  });

  it('a pool of the user opened and closed again and again keeps no listener of the store', async () => {
    const pool = userPool(db.server!.connectionString, 2);
    try {
      const before = pool.listenerCount('error');
      for (let i = 0; i < 20; i++) {
        const store = postgresStore({ pool, schema: db.store.schema });
        await store.acquire();
        await store.release();
      }
      expect(pool.listenerCount('error')).toBe(before);
    } finally {
      await pool.end();
    }
  });
});
