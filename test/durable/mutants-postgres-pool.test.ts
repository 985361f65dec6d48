/**
 * postgresStore and the connections it holds, on a real server: a pool of the
 * user's (listening through its settings, no listener left on its
 * connections, errors while the store closes not reported), its own pool
 * (ended on a failed open and on the last release, `max` obeyed), and a first
 * LISTEN that the server refuses.
 */
import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { postgresStore } from '../../src/durable/index.js';
import { deferred } from '../helpers.js';
import { loginRole } from './login-role.js';
import { type TestDatabase, databaseKinds, eventually, useDatabase, userPool } from './support.js';

describe.skipIf(!(databaseKinds as readonly string[]).includes('postgres'))('postgresStore and its connections', () => {
  const database = useDatabase('postgres');
  let db: TestDatabase;
  let url: string;
  beforeEach(() => {
    db = database();
    url = db.server!.connectionString;
  });
  let apps = 0;
  /** The server's connections of one application_name. */
  const connections = async (admin: pg.Client, app: string) =>
    Number((await admin.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1`, [app])).rows[0].n);
  /** The server's URL, its connections named `app`. */
  const named = (app: string) => {
    const target = new URL(url);
    target.searchParams.set('application_name', app);
    return target.toString();
  };
  const newApp = () => `xe_${process.pid}_${apps++}`;

  it("a pool of the user's: LISTEN through its settings, its connections left without our listeners", async () => {
    const app = newApp();
    const pool = userPool(named(app), 1);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const client = await pool.connect();
      const baseline = client.listenerCount('error');
      client.release();
      const store = postgresStore({ pool, schema: db.store.schema });
      await store.acquire();
      const heard: string[] = [];
      const channel = `${db.store.schema}_pool`;
      await store.listen(channel, (payload) => heard.push(payload), () => {});
      // The listening connection is the pool's kind: same server, same application_name.
      expect(await connections(admin, app)).toBe(2);
      await store.query(`SELECT pg_notify($1, 'via pool')`, [channel]);
      await eventually(() => expect(heard).toEqual(['via pool']));
      for (let i = 0; i < 12; i++) await store.transaction((q) => q('SELECT 1'));
      await expect(store.transaction(() => Promise.reject(new Error('no')))).rejects.toThrow('no');
      const again = await pool.connect();
      expect(again.listenerCount('error')).toBe(baseline); // one connection, used 13 times
      again.release();
      await store.release();
      await eventually(async () => expect(await connections(admin, app)).toBe(1)); // the pool's own, not ended
      // And stays so: a stopped listener does not reconnect (its first attempt would come 100 ms on).
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(await connections(admin, app)).toBe(1);
    } finally {
      await pool.end();
      await admin.end();
    }
  });

  it("errors of the user's pool while the store closes are not reported; after a reopen they are again", async () => {
    // No listener of the test's while it runs: an error the store's listener missed would throw.
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    const errors: Error[] = [];
    try {
      const store = postgresStore({ pool, schema: db.store.schema, onError: (error) => errors.push(error) });
      await store.acquire();
      await store.listen(`${db.store.schema}_closing`, () => {}, () => {});
      const released = store.release(); // it waits for the LISTEN connection to end
      pool.emit('error', new Error('dropped while closing'));
      await released;
      expect(errors).toEqual([]);
      await store.acquire();
      const late = new Error('dropped while open');
      pool.emit('error', late);
      expect(errors).toEqual([late]);
      await store.release();
    } finally {
      pool.on('error', () => {}); // as userPool's: a connection still ending when the server stops
      await pool.end();
    }
  });

  it('its own pool: ended when the open is refused and on the last release; max connections at most', async () => {
    const app = newApp();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const refused = postgresStore({ connectionString: named(app), schema: 'never_made', migrate: false });
      await expect(refused.acquire()).rejects.toThrow(/older than this library/);
      await expect(refused.query('SELECT 1')).rejects.toThrow('postgresStore: the store is not open');
      await eventually(async () => expect(await connections(admin, app)).toBe(0));

      const store = postgresStore({ connectionString: named(app), schema: db.store.schema, max: 1 });
      await store.acquire();
      // One connection: a second transaction waits until the first one ends.
      const order: string[] = [];
      const hold = deferred();
      const first = store.transaction(async (q) => {
        order.push('first');
        await hold.promise;
        await q('SELECT 1');
        order.push('first done');
      });
      const second = store.transaction(async () => void order.push('second'));
      await eventually(() => expect(order).toEqual(['first']));
      hold.resolve();
      await Promise.all([first, second]);
      expect(order).toEqual(['first', 'first done', 'second']);
      expect(await connections(admin, app)).toBe(1);
      await store.release();
      await eventually(async () => expect(await connections(admin, app)).toBe(0));
    } finally {
      await admin.end();
    }
  });

  it('a first LISTEN the server refuses: listen() rejects, and nothing keeps trying', async () => {
    const { role, as, admin, end } = await loginRole(url, 'refused');
    const store = postgresStore({ connectionString: as, schema: db.store.schema, max: 1, onError: () => {} });
    try {
      await store.acquire();
      await store.query('SELECT 1'); // the pool's one connection is open
      await admin.query(`ALTER ROLE ${role} NOLOGIN`);
      let reconnects = 0;
      await expect(store.listen(`${db.store.schema}_no`, () => {}, () => reconnects++)).rejects.toThrow(/not permitted to log in/);
      await admin.query(`ALTER ROLE ${role} LOGIN`);
      // Were it retrying, its next attempt (100 ms on) would now get in.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const listening = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND query LIKE 'LISTEN%'`, [role]);
      expect(listening.rows).toEqual([{ n: 0 }]);
      expect(reconnects).toBe(0);
    } finally {
      await store.release();
      await end();
    }
  });

  it('released while its listening connection is lost and logins are refused: the release ends, and nothing tries again', async () => {
    const { role, as, admin, end } = await loginRole(url, 'lost');
    const errors: Error[] = [];
    const store = postgresStore({ connectionString: as, schema: db.store.schema, onError: (error) => errors.push(error) });
    try {
      await store.acquire();
      const channel = `${db.store.schema}_lost`;
      await store.listen(channel, () => {}, () => {});
      await admin.query(`ALTER ROLE ${role} NOLOGIN`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`, [`LISTEN ${channel}`]);
      await eventually(() => expect(errors.length).toBeGreaterThan(0)); // lost: it is between attempts now
      await store.release();
      await admin.query(`ALTER ROLE ${role} LOGIN`);
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // a retry would get in now
      const left = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1`, [role]);
      expect(left.rows).toEqual([{ n: 0 }]);
    } finally {
      await admin.query(`ALTER ROLE ${role} LOGIN`);
      await end();
    }
  });
});
