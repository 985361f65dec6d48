import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { type DurableStore, type Query, assertMigrateOption, assertSchema, migrate, refCounted } from './store.js';

/** Options of {@link pgliteStore}. */
export interface PgliteStoreOptions {
  /** Where PGlite keeps its files; created on first use. Omit it for a database in memory (lost on exit). */
  dataDir?: string;
  /** The PostgreSQL schema for the tables. Default `xstate_expire`. */
  schema?: string;
  /**
   * Create or upgrade the schema when the store opens (under an advisory
   * lock). Default `true`. With `false`, a missing or older schema is refused
   * (`SchemaVersionError`): upgrades then run only through `xstate-expire migrate`.
   */
  migrate?: boolean;
}

/** The part of PGlite's API the store uses. */
interface PGliteLike {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  transaction<T>(work: (tx: { query: PGliteLike['query'] }) => Promise<T>): Promise<T>;
  listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/**
 * An embedded PostgreSQL: PGlite (`@electric-sql/pglite`, PostgreSQL compiled to
 * WebAssembly) in this process, its files in `dataDir`. Install it beside this
 * library: `npm install @electric-sql/pglite`.
 *
 * One process at a time may open a `dataDir` (PGlite would corrupt it
 * otherwise): a lock file beside it, `<dataDir>.lock`, holds the pid, and a
 * second process gets an error. Several managers of one process share it.
 * Opening a new `dataDir` takes a few seconds (PGlite runs `initdb`).
 *
 * @throws TypeError for bad options.
 */
export function pgliteStore(options: PgliteStoreOptions = {}): DurableStore {
  if (options === null || typeof options !== 'object') throw new TypeError('pgliteStore: options must be an object');
  const { dataDir, schema = 'xstate_expire' } = options;
  if (dataDir !== undefined && (typeof dataDir !== 'string' || dataDir === '')) {
    throw new TypeError('pgliteStore: dataDir must be a non-empty string');
  }
  assertSchema('pgliteStore', schema);
  assertMigrateOption('pgliteStore', options.migrate);
  let db: PGliteLike | undefined;
  let unlock = (): void => {};

  const connected = (): PGliteLike => {
    if (!db) throw new Error('pgliteStore: the store is not open');
    return db;
  };
  const wrap =
    (target: { query: PGliteLike['query'] }): Query =>
    async (sql, params) =>
      (await target.query<Record<string, unknown>>(sql, params ? [...params] : undefined)).rows;

  const lifecycle = refCounted(
    async () => {
      if (dataDir !== undefined) unlock = lockDataDir(dataDir);
      try {
        const { PGlite } = (await import('@electric-sql/pglite')) as unknown as {
          PGlite: { create(dataDir?: string): Promise<PGliteLike> };
        };
        db = await PGlite.create(dataDir);
        await migrate(store, { apply: options.migrate !== false });
      } catch (error) {
        await db?.close();
        db = undefined;
        unlock();
        throw error;
      }
    },
    async () => {
      await db?.close();
      db = undefined;
      unlock();
    },
  );

  const store: DurableStore = {
    kind: 'pglite',
    schema,
    acquire: lifecycle.acquire,
    release: lifecycle.release,
    query: (sql, params) => wrap(connected())(sql, params),
    transaction: (work) => connected().transaction((tx) => work(wrap(tx))),
    // One connection, in this process: notifications are never lost, nothing to reconnect.
    listen: (channel, onNotify) => connected().listen(channel, onNotify),
  };
  return store;
}

/** The lock files this process holds: a second store on one dataDir is refused too. */
const heldHere = new Set<string>();

/** Takes `<dataDir>.lock` for this process; throws while a live process (or another store here) holds it. */
function lockDataDir(dataDir: string): () => void {
  const path = `${dataDir}.lock`;
  if (heldHere.has(path)) {
    throw new Error(`pgliteStore: ${dataDir} is already open in this process; share one store between managers`);
  }
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      heldHere.add(path);
      return () => {
        heldHere.delete(path);
        rmSync(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(path, 'utf8'));
      if (holder && holder !== process.pid && alive(holder)) {
        throw new Error(`pgliteStore: ${dataDir} is open in process ${holder}; PGlite allows one process per dataDir`);
      }
      // Left behind by a process that died, or by this one: take it over.
      rmSync(path, { force: true });
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
