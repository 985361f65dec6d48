import { type DurableStore, type Query, type Row, assertMigrateOption, assertSchema, migrate, refCounted } from './store.js';

/** The part of a node-postgres (`pg`) client the store uses. */
export interface PgClientLike {
  /** Runs one statement. */
  query(sql: string, params?: unknown[]): Promise<{ rows: Row[] }>;
}

/** A connection checked out of a pool, as the store uses it. */
export interface PgPoolClientLike extends PgClientLike {
  /** Gives it back to the pool; with an error (or `true`), the pool drops it. */
  release(error?: Error | boolean): void;
  /** Its connection failed (while checked out). */
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** Stops listening. */
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
}

/** The part of a node-postgres `Pool` the store uses. */
export interface PgPoolLike extends PgClientLike {
  /** Checks a connection out, for a transaction. */
  connect(): Promise<PgPoolClientLike>;
  /** An idle connection failed. */
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** Stops listening. */
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
  /** Closes every connection. */
  end(): Promise<void>;
  /** node-postgres keeps the pool's connection options here. */
  options?: object;
}

/** Options of {@link postgresStore}: a server to connect to, or a pool of yours. */
export type PostgresStoreOptions = (
  | {
      /** `postgres://user@host:port/database`: the store makes and ends its own pool. */
      connectionString: string;
      /** Connections in that pool. Default 10. */
      max?: number;
    }
  | {
      /** A node-postgres `Pool` of yours: the store uses it and never ends it. */
      pool: PgPoolLike;
    }
) & {
  /** The PostgreSQL schema for the tables. Default `xstate_expire`. */
  schema?: string;
  /**
   * Create or upgrade the schema when the store opens (under an advisory
   * lock). Default `true`. With `false`, a missing or older schema is refused
   * (`SchemaVersionError`): upgrades then run only through `xstate-expire migrate`.
   */
  migrate?: boolean;
  /** Receives errors of idle connections and of the listening connection. Default: `console.error`. */
  onError?: (error: Error) => void;
};

type PgModule = {
  Pool: new (config: object) => PgPoolLike;
  Client: new (config: object) => PgClientLike & {
    connect(): Promise<void>;
    end(): Promise<void>;
    on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown;
    on(event: 'error' | 'end', listener: (error?: Error) => void): unknown;
  };
};

/**
 * A PostgreSQL server, through node-postgres (`pg`): install it beside this
 * library, `npm install pg`. Every process that shares the server and the
 * namespace shares the entities.
 *
 * Notifications come on one dedicated connection, reconnected with backoff
 * when it drops; the manager polls too, so none is needed for correctness.
 *
 * @throws TypeError for bad options.
 */
export function postgresStore(options: PostgresStoreOptions): DurableStore {
  if (options === null || typeof options !== 'object') throw new TypeError('postgresStore: options must be an object');
  const { schema = 'xstate_expire', onError = (error: Error) => console.error('xstate-expire postgresStore:', error) } =
    options;
  const given = 'pool' in options ? options.pool : undefined;
  if (given !== undefined && (typeof given?.query !== 'function' || typeof given.connect !== 'function')) {
    throw new TypeError('postgresStore: pool must be a node-postgres Pool');
  }
  if (given === undefined) {
    const { connectionString } = options as { connectionString?: unknown };
    if (typeof connectionString !== 'string' || connectionString === '') {
      throw new TypeError('postgresStore: pass { connectionString } or { pool }');
    }
  }
  assertSchema('postgresStore', schema);
  assertMigrateOption('postgresStore', options.migrate);
  const max = 'max' in options ? options.max : undefined;
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) throw new TypeError('postgresStore: max must be a positive integer');

  let pg: PgModule | undefined;
  let pool: PgPoolLike | undefined;
  // Stryker disable next-line BooleanLiteral: every open sets it to false before the pool exists
  let closing = false;
  const listeners = new Set<() => Promise<void>>();
  const connected = (): PgPoolLike => {
    if (!pool) throw new Error('postgresStore: the store is not open');
    return pool;
  };
  // A fresh connection with the pool's settings, for LISTEN.
  const clientConfig = (): object =>
    given ? { ...(given.options ?? {}) } : { connectionString: (options as { connectionString: string }).connectionString };

  // An idle connection that fails (a server restart) must not crash the process.
  // (Once closing, the server may drop connections still ending: expected, not reported.)
  const idleError = (error: Error): void => void (!closing && onError(error));
  const lifecycle = refCounted(
    async () => {
      closing = false;
      pg = ((await import('pg')) as unknown as { default: PgModule }).default;
      pool =
        given ??
        new pg.Pool({
          connectionString: (options as { connectionString: string }).connectionString,
          max: max ?? 10,
          // Every statement outside an explicit transaction runs at READ COMMITTED too, whatever the database's default.
          options: '-c default_transaction_isolation=read\\ committed',
        });
      pool.on('error', idleError);
      try {
        await migrate(store, { apply: options.migrate !== false });
      } catch (error) {
        if (given) given.removeListener('error', idleError);
        else await pool.end();
        pool = undefined;
        throw error;
      }
    },
    async () => {
      closing = true;
      await Promise.all([...listeners].map((stop) => stop()));
      // The user's pool outlives the store: leave no listener of ours on it. Our own
      // keeps it while it ends (a server shutting down may still fail its idle connections).
      if (given) given.removeListener('error', idleError);
      // Stryker disable next-line OptionalChaining: the last release follows an open that succeeded, which set pool
      else await pool?.end();
      pool = undefined;
    },
  );

  const store: DurableStore = {
    kind: 'postgres',
    schema,
    acquire: lifecycle.acquire,
    release: lifecycle.release,
    query: async (sql, params) => (await connected().query(sql, params ? [...params] : undefined)).rows,
    transaction: async (work) => {
      const client = await connected().connect();
      const query: Query = async (sql, params) => (await client.query(sql, params ? [...params] : undefined)).rows;
      let broken: Error | undefined;
      // A checked-out connection that drops (a server crash) emits 'error': the
      // pending query rejects with it, and the process must not die of it.
      const dropped = (error: Error): void => void (broken = error);
      client.on('error', dropped);
      try {
        await query('BEGIN ISOLATION LEVEL READ COMMITTED');
        const result = await work(query);
        await query('COMMIT');
        return result;
      } catch (error) {
        // Stryker disable next-line ArrowFunction: a ROLLBACK fails only on a connection that broke, whose 'error' event set broken already
        await query('ROLLBACK').catch((rollback: Error) => (broken = rollback));
        throw error;
      } finally {
        client.removeListener('error', dropped);
        // A connection that dropped, or could not even roll back, is not given back to the pool.
        client.release(broken ?? false);
      }
    },
    listen: async (channel, onNotify, onReconnect) => {
      let stopped = false;
      let client: InstanceType<PgModule['Client']> | undefined;
      let retry: ReturnType<typeof setTimeout> | undefined;
      let backoff = 100;
      const connect = async (again: boolean): Promise<void> => {
        const next = new pg!.Client(clientConfig());
        next.on('notification', (message) => {
          // Stryker disable next-line StringLiteral,ConditionalExpression: a payload always comes ('' when none); this connection LISTENs on channel only
          if (message.channel === channel) onNotify(message.payload ?? '');
        });
        next.on('error', (error) => {
          // Stryker disable next-line ConditionalExpression,StringLiteral: stop() ends the connection cleanly (no error), and pg passes an Error
          if (!stopped) onError(error ?? new Error('postgresStore: the listening connection failed'));
        });
        next.on('end', () => {
          if (stopped || client !== next) return;
          client = undefined;
          // Lost: reconnect with backoff; notifications meanwhile are lost, so say so.
          retry = setTimeout(() => void connect(true).catch(() => {}), backoff);
          // Stryker disable next-line OptionalChaining: Node's timers always have unref()
          retry.unref?.();
          // Stryker disable next-line MethodExpression,ArithmeticOperator: the backoff only spaces the attempts (a cost, not a behaviour)
          backoff = Math.min(backoff * 2, 5_000);
        });
        client = next;
        try {
          await next.connect();
          await next.query(`LISTEN ${channel}`);
        } catch (error) {
          client = undefined;
          await next.end().catch(() => {});
          if (!again) throw error;
          if (!stopped) {
            retry = setTimeout(() => void connect(true).catch(() => {}), backoff);
            // Stryker disable next-line OptionalChaining: Node's timers always have unref()
            retry.unref?.();
            // Stryker disable next-line MethodExpression,ArithmeticOperator: the backoff only spaces the attempts (a cost, not a behaviour)
            backoff = Math.min(backoff * 2, 5_000);
          }
          return;
        }
        backoff = 100;
        if (again) onReconnect();
      };
      await connect(false);
      const stop = async (): Promise<void> => {
        stopped = true;
        clearTimeout(retry);
        listeners.delete(stop);
        await client?.end().catch(() => {});
      };
      listeners.add(stop);
      return stop;
    },
  };
  return store;
}
