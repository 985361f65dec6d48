import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClosingEntity,
  SCHEMA_VERSION,
  SchemaVersionError,
  createDurableExpireManager,
  pgliteStore,
  postgresStore,
} from '../../src/durable/index.js';
import { SCHEMA_VERSION as CURRENT_SCHEMA } from '../../src/durable/store.js';
import { type PostgresServer, startPostgres } from '../support/postgres.js';
import { dump, loadFixture, loadSql, takenAt } from './fixture.js';
import { countByState } from '../../src/durable/admin.js';
import { databaseKinds, eventually, holdClock } from './support.js';

// PGlite runs initdb for each new data folder: seconds on a loaded machine.
// A mutation run (npm run mutate:durable) runs them on its shared server only: PGlite's
// initdb per test would cost a minute per mutant, and PGlite's store is reached elsewhere.
const shared = process.env['XSTATE_EXPIRE_TEST_POSTGRES_URL'];
describe.each(shared ? (['postgres'] as const) : databaseKinds)('schema versions on %s', { timeout: 120_000 }, (kind) => {
  let server: PostgresServer | undefined;
  beforeAll(async () => {
    if (kind === 'postgres' && !shared) server = await startPostgres({ fsync: false });
  }, 60_000);
  afterAll(() => server?.stop());
  const target = () =>
    kind === 'pglite' ? ({ kind } as const) : ({ kind, connectionString: shared ?? server!.connectionString } as const);

  it('refuses the schema written by 0.1.0 with migrate: false, naming both versions', async () => {
    const { store, cleanup } = await loadFixture(target(), { migrate: false });
    try {
      await expect(store.acquire()).rejects.toMatchObject({ name: 'SchemaVersionError', found: 1, expected: CURRENT_SCHEMA });
    } finally {
      await cleanup();
    }
  });

  it('migrates the schema written by 0.1.0 on open, and runs its entities on', async () => {
    const { store, cleanup } = await loadFixture(target(), { migrate: true });
    try {
      await store.acquire();
      const clock = await holdClock(store);
      await clock.set(takenAt());
      // What the dump holds, read as it was: two active, one paused, one expired waiting for its close (one closing).
      expect(await countByState(store, 'fixture')).toEqual({ active: 2, paused: 1, expired: 1, failed: 0 });
      const closes: ClosingEntity[] = [];
      const manager = await createDurableExpireManager({
        store,
        namespace: 'fixture',
        closers: { lease: (entity) => void closes.push(entity), session: (entity) => void closes.push(entity) },
        pollIntervalMs: 60_000,
      });
      // The queued close is claimed at once; the rest is as it was.
      await eventually(() => expect(closes.map((e) => e.id)).toEqual(['expired-2']));
      expect((await manager.list()).map((e) => [e.id, e.state, e.data])).toEqual([
        ['active-1', 'active', { tenant: 'a' }],
        ['active-2', 'active', { renewed: true }],
        ['paused-1', 'paused', [1, 2, 3]],
      ]);
      // The dead process's leases (30 s) run out: its close is taken over, its pause ends.
      await clock.advance(30_001);
      await manager.poll();
      await eventually(() => expect(closes.map((e) => e.id).sort()).toEqual(['expired-1', 'expired-2']));
      expect(closes.find((e) => e.id === 'expired-1')).toMatchObject({ data: 'x', generation: expect.any(Number) });
      expect(await manager.state('paused-1')).toBe('active');
      await manager.dispose();
    } finally {
      await store.release();
      await cleanup();
    }
  });

  it('refuses a missing schema with migrate: false, creating nothing; a migrating store then creates it', async () => {
    const { store, cleanup, where, schema } = await loadSql(() => 'SELECT 1', target(), { migrate: false });
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        // Twice: the refusal changed nothing and left nothing held (PGlite's lock is released).
        const error = await store.acquire().then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(SchemaVersionError);
        expect(error).toMatchObject({ found: 0, expected: CURRENT_SCHEMA });
        expect((error as Error).message).toMatch(/run `npx xstate-expire migrate/);
      }
      const migrating = kind === 'pglite' ? pgliteStore({ dataDir: where.slice('pglite:'.length) }) : postgresStore({ connectionString: where, schema });
      await migrating.acquire();
      expect(await migrating.query(`SELECT max(version) AS v FROM ${schema}.schema_version`)).toEqual([{ v: SCHEMA_VERSION }]);
      await migrating.release();
    } finally {
      await cleanup();
    }
  });

  it('refuses a schema newer than the library, with migrate: true or false, naming both versions', async () => {
    const newer = SCHEMA_VERSION + 1;
    // What a later library would have left: a version this one does not know.
    const { store, cleanup, where, schema } = await loadSql(
      (schema) => `${dump('schema-v1.sql').replaceAll('__SCHEMA__', schema)}\nINSERT INTO ${schema}.schema_version VALUES (${newer});`,
      target(),
    );
    const refusing = kind === 'pglite' ? pgliteStore({ dataDir: where.slice('pglite:'.length), migrate: false }) : postgresStore({ connectionString: where, schema, migrate: false });
    try {
      for (const opening of [store, refusing]) {
        const error = await opening.acquire().then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(SchemaVersionError);
        expect(error).toMatchObject({ found: newer, expected: CURRENT_SCHEMA });
        expect((error as Error).message).toContain(`version ${newer}, newer than this library's (${SCHEMA_VERSION})`);
      }
    } finally {
      await cleanup();
    }
  });
});
