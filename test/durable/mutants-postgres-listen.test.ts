/**
 * postgresStore when its server misbehaves: a failed statement inside a
 * transaction (the connection must come back clean), and a listening
 * connection that drops while the server refuses new ones for a while.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { postgresStore } from '../../src/durable/index.js';
import { loginRole } from './login-role.js';
import { type TestDatabase, databaseKinds, eventually, useDatabase } from './support.js';

describe.skipIf(!(databaseKinds as readonly string[]).includes('postgres'))('postgresStore when the server misbehaves', () => {
  const database = useDatabase('postgres');
  let db: TestDatabase;
  beforeEach(() => void (db = database()));

  it('a statement that fails inside a transaction is rolled back: the one connection of the pool works on', async () => {
    const store = postgresStore({ connectionString: db.server!.connectionString, schema: db.store.schema, max: 1 });
    await store.acquire();
    try {
      await expect(store.transaction((q) => q('SELECT 1/0'))).rejects.toThrow(/division by zero/);
      expect(await store.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      expect(await store.transaction((q) => q('SELECT 2 AS two'))).toEqual([{ two: 2 }]);
    } finally {
      await store.release();
    }
  });

  it('a listening connection lost while the server refuses logins: the loss reported as it is, retried until it comes back', async () => {
    const url = db.server!.connectionString;
    const { role, as, admin, end } = await loginRole(url, 'listener');
    const errors: Error[] = [];
    const store = postgresStore({ connectionString: as, schema: db.store.schema, onError: (error) => errors.push(error) });
    try {
      await store.acquire();
      let reconnects = 0;
      const heard: string[] = [];
      const channel = `${db.store.schema}_re`;
      await store.listen(channel, (payload) => heard.push(payload), () => reconnects++);
      await admin.query(`ALTER ROLE ${role} NOLOGIN`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`, [`LISTEN ${channel}`]);
      await eventually(() => expect(errors.length).toBeGreaterThan(0));
      expect(errors[0]!.message).toMatch(/terminat/);
      await new Promise((resolve) => setTimeout(resolve, 500)); // a few refused attempts
      expect(reconnects).toBe(0);
      await admin.query(`ALTER ROLE ${role} LOGIN`);
      await eventually(() => expect(reconnects).toBe(1));
      await admin.query(`SELECT pg_notify($1, 'back')`, [channel]);
      await eventually(() => expect(heard).toEqual(['back']));
    } finally {
      await store.release();
      await admin.query(`ALTER ROLE ${role} LOGIN`);
      await end();
    }
  });
});
