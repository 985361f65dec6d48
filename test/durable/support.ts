/**
 * Durable managers under test: on PGlite (in this process, on a copy of the
 * template data folder made once by test/global-setup.ts) or on a real
 * PostgreSQL 15 server (started by the test on 127.0.0.1 from a copy of the
 * template cluster), with the database's clock under the test's control.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';
import {
  type ClosingEntity,
  type DurableExpireManager,
  type DurableExpireManagerOptions,
  type DurableStore,
  createDurableExpireManager,
  pgliteStore,
  postgresStore,
} from '../../src/durable/index.js';
import { deferred } from '../helpers.js';
import { pgliteDataDir } from '../support/pglite-template.js';
import { type PostgresServer, findPostgresBin, startPostgres } from '../support/postgres.js';

/** Whether this machine can start a PostgreSQL server (CI installs it; a bare laptop may not have it). */
export const hasPostgres = findPostgresBin() !== undefined;

/** The stores to test on: PGlite always, PostgreSQL where a server can start (always in CI). */
export const databaseKinds = ['pglite', ...(hasPostgres || process.env.CI ? ['postgres' as const] : [])] as const;

/**
 * How long opening or closing a database may take: it returns as soon as it is
 * done (about a second idle), and a machine busy with other work may take many
 * times that; the ceiling only catches a hang.
 */
const SETUP_CEILING_MS = 180_000;

/** Opens a database of `kind` before the tests of the current `describe`, and closes it after them. */
export function useDatabase(kind: 'pglite' | 'postgres'): () => TestDatabase {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    // A mutation run opens no PGlite per file (seconds of WebAssembly per mutant): the
    // shared server runs the same statements; test/durable/mutants-pglite.test.ts covers PGlite's store.
    db = await openDatabase(SHARED_POSTGRES ? 'postgres' : kind);
  }, SETUP_CEILING_MS);
  afterAll(async () => {
    await db?.close();
  }, SETUP_CEILING_MS);
  return () => db!;
}

/**
 * A `pg.Pool` of the user's, made as the README asks: with an `'error'` listener.
 * node-postgres throws an idle connection's error on a pool without one, and
 * `pool.end()` resolves before its last connections have closed: a server that
 * stops right after (the file's end) fails them, and that is expected here.
 */
export function userPool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  pool.on('error', () => {});
  return pool;
}

/** A store of either kind, opened, with a clock the test sets. */
export interface TestDatabase {
  kind: 'pglite' | 'postgres';
  store: DurableStore;
  clock: DatabaseClock;
  /** The server, for PostgreSQL. */
  server?: PostgresServer;
  close(): Promise<void>;
}

/** The database's clock, held by the test: `now_ms()` reads it. */
export interface DatabaseClock {
  now(): number;
  set(ms: number): Promise<void>;
  advance(ms: number): Promise<void>;
}

/** Where the test clock starts: a real-looking epoch time. */
export const T0 = 1_800_000_000_000;

/**
 * Replaces the schema's `now_ms()` by a clock the test moves: the same
 * statements run, on time the test decides. The schema must exist (a store
 * acquired once).
 */
export async function holdClock(store: DurableStore): Promise<DatabaseClock> {
  const s = store.schema;
  await store.query(`CREATE TABLE IF NOT EXISTS ${s}.test_clock (ms double precision NOT NULL)`);
  await store.query(`DELETE FROM ${s}.test_clock`);
  await store.query(`INSERT INTO ${s}.test_clock (ms) VALUES ($1)`, [T0]);
  await store.query(
    `CREATE OR REPLACE FUNCTION ${s}.now_ms() RETURNS double precision LANGUAGE sql VOLATILE AS $$ SELECT ms FROM ${s}.test_clock $$`,
  );
  let now = T0;
  const set = async (ms: number) => {
    now = ms;
    await store.query(`UPDATE ${s}.test_clock SET ms = $1`, [ms]);
  };
  return { now: () => now, set, advance: (ms) => set(now + ms) };
}

let schemas = 0;

/**
 * A PostgreSQL server started once for a whole run (`npm run mutate:durable`
 * sets it): PostgreSQL tests then take a schema on it instead of starting a
 * server each, which a mutation run would do once per mutant.
 */
const SHARED_POSTGRES = process.env['XSTATE_EXPIRE_TEST_POSTGRES_URL'];

/** The shared server as tests see it: its address; crashing or stopping it is not theirs to do. */
function sharedServer(connectionString: string): PostgresServer {
  const refuse = () => Promise.reject(new Error('the shared PostgreSQL server is not stopped, killed or restarted by a test'));
  const port = Number(new URL(connectionString).port);
  return { connectionString, port, pid: -1, dataDir: '', stop: () => Promise.resolve(), kill: refuse, restart: refuse, log: () => '' };
}

async function dropSharedSchema(connectionString: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * Opens a database of `kind`: PGlite on a copy of the template data folder
 * (removed by `close`), or a PostgreSQL server started for it (stopped by `close`).
 */
export async function openDatabase(kind: 'pglite' | 'postgres'): Promise<TestDatabase> {
  let server: PostgresServer | undefined;
  let folder: { dataDir: string; remove(): void } | undefined;
  let store: DurableStore;
  let dropSchema: (() => Promise<void>) | undefined;
  if (kind === 'pglite') {
    folder = await pgliteDataDir();
    store = pgliteStore({ dataDir: folder.dataDir });
  } else if (SHARED_POSTGRES) {
    // One server for the whole run (mutation testing): a schema of our own on it, dropped by close.
    server = sharedServer(SHARED_POSTGRES);
    const schema = `test_${process.pid}_${Date.now().toString(36)}_${schemas++}`;
    store = postgresStore({ connectionString: SHARED_POSTGRES, schema });
    dropSchema = () => dropSharedSchema(SHARED_POSTGRES, schema);
  } else {
    server = await startPostgres({ fsync: false });
    store = postgresStore({ connectionString: server.connectionString, schema: `test_${process.pid}_${schemas++}` });
  }
  const close = async () => {
    try {
      await store.release();
    } finally {
      await dropSchema?.();
      await server?.stop();
      folder?.remove();
    }
  };
  try {
    await store.acquire();
    const clock = await holdClock(store);
    return { kind, store, clock, server, close };
  } catch (error) {
    // Nothing is left running or on disk when opening fails.
    await close().catch(() => {});
    throw error;
  }
}

/** One close as a closer saw it. */
export interface CloseCall {
  entity: ClosingEntity;
  signal: AbortSignal;
  /** The database time it was called at. */
  at: number;
  /** Settles the close (when the closer was made to wait). */
  settle(): void;
}

/**
 * A durable manager on `db` that records its closes (named `lease` and
 * `session`), and the failures reported. `hold` makes closes wait until
 * settled by the test.
 */
export async function durableManager(
  db: TestDatabase,
  options: Partial<DurableExpireManagerOptions> & { hold?: boolean } = {},
) {
  const closes: CloseCall[] = [];
  const errors: Array<{ id: string; error: unknown }> = [];
  const closer = (entity: ClosingEntity, signal: AbortSignal) => {
    const done = deferred();
    closes.push({ entity, signal, at: db.clock.now(), settle: done.resolve });
    return options.hold ? done.promise : undefined;
  };
  const manager: DurableExpireManager = await createDurableExpireManager({
    store: db.store,
    closers: { lease: closer, session: closer },
    namespace: `ns${schemas++}`,
    // Leases and polling far beyond any test: the test moves the database's clock and polls.
    claimTimeoutMs: 60_000,
    pauseTimeoutMs: 60_000,
    pollIntervalMs: 60_000,
    onCloseError: (id, error) => errors.push({ id, error }),
    ...options,
  });
  return { manager, closes, errors };
}

/**
 * A close of `a` (data `{ n: 1 }`, 3 attempts without backoff) running when the test renews
 * `a` (data `{ n: 2 }`, due at T0 + 1,000): the renewal is the live row while the old close
 * still runs. `calls` are the entities the closer was called with; `fail` makes the first close fail.
 */
export async function renewedWhileClosing(db: TestDatabase) {
  const failing = deferred();
  const calls: ClosingEntity[] = [];
  const { manager, errors } = await durableManager(db, {
    closers: {
      lease: {
        close: (entity: ClosingEntity) => {
          calls.push(entity);
          return (entity.data as { n: number }).n === 1 ? failing.promise : undefined;
        },
        retry: { attempts: 3, backoffMs: 0 },
      },
    },
  });
  await db.clock.set(T0);
  await manager.new('a', T0 + 10, { closer: 'lease', data: { n: 1 } });
  await db.clock.set(T0 + 10);
  await manager.poll();
  await eventually(() => expect(calls).toHaveLength(1));
  await manager.new('a', T0 + 1_000, { closer: 'lease', data: { n: 2 } });
  return { manager, errors, calls, fail: failing.reject };
}

/**
 * The ceiling of {@link eventually}: 30 s, or 15 s in a mutation run, where a
 * mutant that breaks a close would hold each of its tests there (the checks
 * pass within a second when the code is right, on a loaded machine too).
 */
const EVENTUALLY_MS = process.env['XSTATE_EXPIRE_MUTATION_RUN'] === undefined ? 30_000 : 15_000;

/**
 * Waits until `check` passes (closes complete in transactions of their own).
 * It returns as soon as it does; the ceiling, generous for a loaded machine,
 * only decides when to give up and throw the check's last error.
 */
export async function eventually(check: () => unknown | Promise<unknown>, timeoutMs = EVENTUALLY_MS): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() - started > timeoutMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/**
 * Wraps a store and counts what goes through it: statements (inside
 * transactions too), transactions, and those rolled back.
 */
export function countingStore(inner: DurableStore) {
  const counts = { statements: 0, transactions: 0, rolledBack: 0 };
  const store: DurableStore = {
    kind: inner.kind,
    schema: inner.schema,
    acquire: () => inner.acquire(),
    release: () => inner.release(),
    listen: (channel, onNotify, onReconnect) => inner.listen(channel, onNotify, onReconnect),
    query: (sql, params) => {
      counts.statements++;
      return inner.query(sql, params);
    },
    transaction: async (work) => {
      counts.transactions++;
      try {
        return await inner.transaction((query) =>
          work((sql, params) => {
            counts.statements++;
            return query(sql, params);
          }),
        );
      } catch (error) {
        counts.rolledBack++;
        throw error;
      }
    },
  };
  return { store, counts };
}
