import { lockFolder } from './folder-lock.js';
import { defaultTemplateCache, seedFromTemplate, templateTar } from './pglite-template.js';
import { type DurableStore, type Query, assertMigrateOption, assertSchema, migrate, refCounted } from './store.js';

/** Options of {@link pgliteStore}. */
export interface PgliteStoreOptions {
  /**
   * Where PGlite keeps its files; created on first use. Omit it for a database
   * in memory (lost on exit), loaded from the same template as a tar.
   */
  dataDir?: string;
  /** The PostgreSQL schema for the tables. Default `xstate_expire`. */
  schema?: string;
  /**
   * Create or upgrade the schema when the store opens (under an advisory
   * lock). Default `true`. With `false`, a missing or older schema is refused
   * (`SchemaVersionError`): upgrades then run only through `xstate-expire migrate`.
   */
  migrate?: boolean;
  /**
   * Where a template of a new data folder is cached: a new `dataDir` is a
   * copy of it, opened without `initdb`. Made once per user and PGlite
   * version, by a child process. Default: `xstate-expire` in the user's
   * cache folder (`$XDG_CACHE_HOME`, `~/.cache`, `%LOCALAPPDATA%`). A store in
   * memory loads it as a tar. `false`: PGlite runs `initdb` in this process on
   * every first open and every store in memory, as without it.
   */
  templateCache?: string | false;
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
 * otherwise): an OS-level lock named after the folder (see `lockFolder`) makes
 * a second process get an error, and is freed when the holder ends, however it
 * ends. Several managers of one process share one store.
 * A new `dataDir` starts as a copy of a cached template (see
 * `templateCache`), so its first open costs about what a reopen does; only
 * the first of all, which makes the template, runs `initdb` (seconds).
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
  const { templateCache = defaultTemplateCache() } = options;
  if (templateCache !== false && (typeof templateCache !== 'string' || templateCache === '')) {
    throw new TypeError('pgliteStore: templateCache must be a non-empty string or false');
  }
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
      unlock = () => {};
      if (dataDir !== undefined) unlock = await lockFolder(dataDir);
      try {
        const { PGlite } = (await import('@electric-sql/pglite')) as unknown as {
          PGlite: { create(options: { dataDir?: string; loadDataDir?: Blob }): Promise<PGliteLike> };
        };
        // In memory: the template loaded as a tar. A folder of this machine: seeded by a copy of it
        // (`memory://`, `idb://` and the like are PGlite's own).
        const loadDataDir = dataDir === undefined && templateCache !== false ? await tarOf(templateCache) : undefined;
        if (dataDir !== undefined && templateCache !== false && !/^[a-z][a-z0-9+.-]*:\/\//i.test(dataDir)) await seed(dataDir, templateCache);
        db = await PGlite.create({ dataDir, loadDataDir });
        await migrate(store, { apply: options.migrate !== false });
      } catch (error) {
        await db?.close();
        db = undefined;
        unlock();
        throw error;
      }
    },
    async () => {
      // Stryker disable next-line OptionalChaining: the last release follows an open that succeeded, which set db
      await db?.close();
      db = undefined;
      unlock();
      unlock = () => {};
    },
  );

  const store: DurableStore = {
    kind: 'pglite',
    schema,
    acquire: lifecycle.acquire,
    release: lifecycle.release,
    query: (sql, params) => wrap(connected())(sql, params),
    transaction: (work) =>
      connected().transaction(async (tx) => {
        const query = wrap(tx);
        // Stated, not assumed: the database's default may be stricter.
        await query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
        return work(query);
      }),
    // One connection, in this process: notifications are never lost, nothing to reconnect.
    listen: (channel, onNotify) => connected().listen(channel, onNotify),
  };
  return store;
}

/** The template as a tar for an in-memory database, or undefined (PGlite's own `initdb`) with a warning saying why. */
async function tarOf(templateCache: string): Promise<Blob | undefined> {
  try {
    return await templateTar(templateCache);
  } catch (error) {
    process.emitWarning(`${(error as Error).message}; PGlite runs initdb in this process instead`, 'XstateExpireWarning');
    return undefined;
  }
}

/**
 * Seeds a new `dataDir` from the template; when the template cannot be had
 * (a cache folder that is not ours, no way to start a child), says why in a
 * process warning and leaves the folder to PGlite's own `initdb`.
 */
async function seed(dataDir: string, templateCache: string): Promise<void> {
  try {
    await seedFromTemplate(dataDir, templateCache);
  } catch (error) {
    process.emitWarning(`${(error as Error).message}; PGlite runs initdb in this process instead`, 'XstateExpireWarning');
  }
}
