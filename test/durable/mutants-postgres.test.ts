/**
 * postgresStore at its edges, on a real server: the isolation it sets, a
 * connection lost inside a transaction, notifications, errors of the
 * listening connection, and what it leaves on a pool of the user's.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { postgresStore } from '../../src/durable/index.js';
import { type TestDatabase, databaseKinds, eventually, useDatabase, userPool } from './support.js';

describe.skipIf(!(databaseKinds as readonly string[]).includes('postgres'))('postgresStore at its edges', () => {
  const database = useDatabase('postgres');
  let db: TestDatabase;
  let url: string;
  beforeEach(() => {
    db = database();
    url = db.server!.connectionString;
  });
  afterEach(() => void vi.restoreAllMocks());

  it('READ COMMITTED inside and outside transactions on a database whose default is SERIALIZABLE', async () => {
    const name = `iso_${process.pid}_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.query(`ALTER DATABASE ${name} SET default_transaction_isolation = 'serializable'`);
      const target = new URL(url);
      target.pathname = `/${name}`;
      const store = postgresStore({ connectionString: target.toString(), schema: 'iso', max: 1 });
      await store.acquire();
      try {
        expect(await store.query('SHOW transaction_isolation')).toEqual([{ transaction_isolation: 'read committed' }]);
        expect(await store.transaction((q) => q('SHOW transaction_isolation'))).toEqual([{ transaction_isolation: 'read committed' }]);
        expect(await store.query('SELECT $1::int AS n', [3])).toEqual([{ n: 3 }]);
        // max: 1 — a transaction that failed gave its connection back (or a fresh one took its place).
        await expect(store.transaction(() => Promise.reject(new Error('work failed')))).rejects.toThrow('work failed');
        expect(await store.transaction((q) => q('SELECT 2 AS two'))).toEqual([{ two: 2 }]);
        // A connection that dies inside a transaction is not given back to the pool.
        await expect(store.transaction((q) => q('SELECT pg_terminate_backend(pg_backend_pid())'))).rejects.toThrow();
        expect(await store.transaction((q) => q('SELECT 3 AS three'))).toEqual([{ three: 3 }]);
      } finally {
        await store.release();
      }
      await expect(store.query('SELECT 1')).rejects.toThrow('postgresStore: the store is not open');
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });

  it('notifications on its channel only; a lost listening connection is reported and comes back; a release stops it', async () => {
    const errors: Error[] = [];
    const store = postgresStore({ connectionString: url, schema: db.store.schema, onError: (error) => errors.push(error) });
    await store.acquire();
    const heard: string[] = [];
    let reconnects = 0;
    const channel = `${db.store.schema}_ch`;
    await store.listen(channel, (payload) => heard.push(payload), () => reconnects++);
    await store.query(`SELECT pg_notify($1, 'one'), pg_notify('elsewhere', 'no')`, [channel]);
    await eventually(() => expect(heard).toEqual(['one']));
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`, [`LISTEN ${channel}`]);
      await eventually(() => expect(reconnects).toBe(1));
      expect(errors.length).toBeGreaterThan(0);
      await store.query(`SELECT pg_notify($1, 'two')`, [channel]);
      await eventually(() => expect(heard).toEqual(['one', 'two']));
      await store.release(); // the last user: the listener ends with the store
      await eventually(async () =>
        expect((await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1`, [`LISTEN ${channel}`])).rows).toEqual([{ n: 0 }]),
      );
    } finally {
      await admin.end();
    }
  });

  it('errors go to console.error by default; a pool of the user is used, never ended, and left without our listener', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const pool = userPool(url, 2);
    const before = pool.listenerCount('error');
    try {
      const store = postgresStore({ pool, schema: db.store.schema });
      await store.acquire();
      expect(pool.listenerCount('error')).toBe(before + 1);
      const failure = new Error('idle connection lost');
      pool.emit('error', failure);
      expect(logged).toHaveBeenCalledWith('xstate-expire postgresStore:', failure);
      await store.release();
      expect(pool.listenerCount('error')).toBe(before);
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]); // not ended
      // A refused open leaves no listener either.
      const refused = postgresStore({ pool, schema: 'never_made', migrate: false });
      await expect(refused.acquire()).rejects.toThrow(/older than this library/);
      expect(pool.listenerCount('error')).toBe(before);
    } finally {
      await pool.end();
    }
  });
});
