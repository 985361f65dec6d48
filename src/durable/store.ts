/** A row as a query returns it. */
export type Row = Record<string, unknown>;

/** Runs one SQL statement with positional parameters (`$1`, `$2`…) and resolves with its rows. */
export type Query = (sql: string, params?: readonly unknown[]) => Promise<Row[]>;

/**
 * Where a durable manager keeps its entities: PostgreSQL, embedded
 * ({@link pgliteStore}) or a server ({@link postgresStore}). Both run the same
 * schema and the same statements; a store only connects, runs transactions and
 * delivers notifications.
 *
 * Managers share a store: each `acquire()`s it (the first opens it and creates
 * or migrates the schema) and `release()`s it (the last closes it).
 */
export interface DurableStore {
  /** `'pglite'` or `'postgres'`. */
  readonly kind: string;
  /** The PostgreSQL schema the tables live in (default `xstate_expire`). */
  readonly schema: string;
  /** Opens the store for one more user; the first opens the connection and migrates the schema. */
  acquire(): Promise<void>;
  /** One user less; the last closes what the store opened (never a pool you passed in). */
  release(): Promise<void>;
  /** A statement outside any transaction. */
  query: Query;
  /**
   * Runs `work` in one transaction at `READ COMMITTED` isolation, whatever the
   * database's default: committed when it resolves, rolled back when it throws.
   */
  transaction<T>(work: (query: Query) => Promise<T>): Promise<T>;
  /**
   * Calls `onNotify` with the payload of every `NOTIFY` on `channel`, and
   * `onReconnect` after a lost connection came back (notifications may have
   * been missed meanwhile). Resolves with a function that stops listening.
   */
  listen(channel: string, onNotify: (payload: string) => void, onReconnect: () => void): Promise<() => Promise<void>>;
}

/** A valid unquoted PostgreSQL identifier: what a schema name must be. */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * PostgreSQL's reserved keywords and those that cannot name a schema unquoted
 * (`pg_get_keywords()` categories R and T, PostgreSQL 15 to 18).
 */
const RESERVED = new Set(
  `all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate collation column
  concurrently constraint create cross current_catalog current_date current_role current_schema current_time
  current_timestamp current_user default deferrable desc distinct do else end except false fetch for foreign freeze from
  full grant group having ilike in initially inner intersect into is isnull join lateral leading left like limit localtime
  localtimestamp natural not notnull null offset on only or order outer overlaps placing primary references returning right
  select session_user similar some symmetric system_user table tablesample then to trailing true union unique user using
  variadic verbose when where window with`.split(/\s+/),
);

/** Throws a TypeError unless `schema` can be used as a schema name as it is: a lowercase identifier, not a reserved word. */
export function assertSchema(owner: string, schema: unknown): asserts schema is string {
  if (typeof schema !== 'string' || !IDENTIFIER.test(schema)) {
    throw new TypeError(`${owner}: schema must be a lowercase identifier (a-z, 0-9, _), got ${JSON.stringify(schema)}`);
  }
  if (RESERVED.has(schema)) throw new TypeError(`${owner}: schema "${schema}" is a reserved word of PostgreSQL; pick another name`);
}

/**
 * The schema, by version: each step runs once, in order, in one transaction
 * that holds an advisory lock, so processes that start together do not race.
 *
 * Times are milliseconds since the epoch on the database's clock, as
 * `double precision`; `now_ms()` is that clock.
 */
const MIGRATIONS: ReadonlyArray<(schema: string) => string> = [
  (s) => `
    CREATE TABLE ${s}.entities (
      namespace text NOT NULL,
      id text NOT NULL,
      -- Unique per id and incarnation: the creation time in µs, plus one per renewal.
      generation bigint NOT NULL,
      -- The statechart's leaf state: active, paused, expired.queued, expired.closing.
      state text NOT NULL,
      -- Held by the manager (has, size, calls); false once its close has started.
      live boolean NOT NULL,
      -- The absolute deadline, kept while paused.
      deadline double precision NOT NULL,
      -- When its delayed event (the deadline) fires; null when none is armed.
      due double precision,
      closer text NOT NULL,
      data jsonb,
      -- A lease: the process holding the entity (pausing it for an update, running
      -- its close; none while a queued close waits to be claimed), the state it
      -- holds it in (a change of state ends the lease), when it ends unless
      -- renewed, by how much a renewal extends it, and the event that then happens.
      owner text,
      lease_state text,
      lease_until double precision,
      lease_ms double precision,
      lease_event text,
      PRIMARY KEY (namespace, id, generation)
    );
    CREATE UNIQUE INDEX entities_live ON ${s}.entities (namespace, id) WHERE live;
    CREATE INDEX entities_due ON ${s}.entities (namespace, due) WHERE due IS NOT NULL;
    CREATE INDEX entities_lease ON ${s}.entities (namespace, lease_until) WHERE lease_until IS NOT NULL;
    CREATE INDEX entities_owner ON ${s}.entities (owner) WHERE owner IS NOT NULL;
    CREATE FUNCTION ${s}.now_ms() RETURNS double precision
      LANGUAGE sql VOLATILE AS $$ SELECT extract(epoch FROM clock_timestamp()) * 1000 $$;
  `,
  (s) => `
    -- The processes holding a pause: it lasts while any of them lives (each renews it).
    ALTER TABLE ${s}.entities ADD COLUMN holders text[] NOT NULL DEFAULT '{}';
    -- Generations: unique in the schema, whatever the clock does (a new incarnation never
    -- reuses an earlier one's), above every generation written before this version.
    CREATE SEQUENCE ${s}.generations AS bigint;
    SELECT setval('${s}.generations', greatest(
      (SELECT max(generation) FROM ${s}.entities),
      (extract(epoch FROM clock_timestamp()) * 1000000)::bigint));
  `,
  (s) => `
    -- Close attempts: how many since the entity expired (or was retried by hand), the last
    -- failure's message (retrying or failed), and when the running attempt times out.
    ALTER TABLE ${s}.entities ADD COLUMN attempt integer NOT NULL DEFAULT 0;
    ALTER TABLE ${s}.entities ADD COLUMN last_error text;
    ALTER TABLE ${s}.entities ADD COLUMN close_deadline double precision;
  `,
  (s) => `
    -- A pause ends by the statechart's delayed transition (its timeout, renewed while a holder
    -- lives): a due time like any other, no longer a lease whose event is start.
    UPDATE ${s}.entities SET due = lease_until, owner = NULL, lease_state = NULL, lease_until = NULL, lease_ms = NULL,
      lease_event = NULL
      WHERE state = 'paused' AND lease_event = 'start';
  `,
];

/** The schema version this library writes and reads: a store on an older one is migrated (or refused), a newer one refused. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The version of the schema in the database: 0 when it does not exist yet. */
export async function schemaVersion(query: Query, schema: string): Promise<number> {
  const [table] = await query(`SELECT to_regclass($1) IS NOT NULL AS present`, [`${schema}.schema_version`]);
  // Stryker disable next-line OptionalChaining: a SELECT of scalars without FROM returns one row, always
  if (table?.present !== true) return 0;
  const [row] = await query(`SELECT max(version) AS version FROM ${schema}.schema_version`);
  // Stryker disable next-line OptionalChaining: an aggregate without GROUP BY returns one row, always
  return Number(row?.version ?? 0);
}

/** The error for a schema this library cannot use as it is: both versions, and what to do. */
export class SchemaVersionError extends Error {
  /** An error for `schema`, found at version `found`, where this library needs `expected`. */
  constructor(
    /** The PostgreSQL schema. */
    readonly schema: string,
    /** Its version in the database (0: it does not exist). */
    readonly found: number,
    /** The version this library needs ({@link SCHEMA_VERSION}). */
    readonly expected: number,
  ) {
    super(
      // Stryker disable next-line EqualityOperator: never made for equal versions (migrate refuses only a difference)
      found > expected
        ? `xstate-expire: schema ${schema} is at version ${found}, newer than this library's (${expected}): ` +
            `upgrade xstate-expire in this process (an older library cannot run a newer schema)`
        : `xstate-expire: schema ${schema} is at version ${found}, older than this library's (${expected}), ` +
            `and the store was opened with migrate: false: run \`npx xstate-expire migrate --store …\` first`,
    );
    this.name = 'SchemaVersionError';
  }
}

/**
 * Creates the schema, or brings it to the latest version, under an advisory
 * lock (one migrating process at a time). With `apply: false` nothing is
 * changed: a schema older than {@link SCHEMA_VERSION} (or none) is refused.
 * A newer one is always refused.
 *
 * @throws SchemaVersionError when the schema cannot be used.
 * @returns the version found before, and the version now.
 */
export async function migrate(
  store: Pick<DurableStore, 'transaction' | 'schema'>,
  { apply = true }: { apply?: boolean } = {},
): Promise<{ from: number; to: number }> {
  const s = store.schema;
  return store.transaction(async (query) => {
    // One migrating process at a time, whatever the schema's state.
    await query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`xstate-expire:${s}`]);
    const current = await schemaVersion(query, s);
    if (current > MIGRATIONS.length || (!apply && current < MIGRATIONS.length)) {
      throw new SchemaVersionError(s, current, MIGRATIONS.length);
    }
    if (current === MIGRATIONS.length) return { from: current, to: current };
    await query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await query(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (version integer NOT NULL)`);
    for (let version = current + 1; version <= MIGRATIONS.length; version++) {
      for (const statement of splitStatements(MIGRATIONS[version - 1]!(s))) await query(statement);
      await query(`INSERT INTO ${s}.schema_version (version) VALUES ($1)`, [version]);
    }
    return { from: current, to: MIGRATIONS.length };
  });
}

/** Throws a TypeError unless `migrate` is a boolean or absent. */
export function assertMigrateOption(owner: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') throw new TypeError(`${owner}: migrate must be a boolean`);
}

/** Splits a migration into statements: on `;` at the end of a line, outside `$$` bodies. */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let inBody = false;
  for (const line of sql.split('\n')) {
    if (line.trim().startsWith('--')) continue;
    current += `${line}\n`;
    if ((line.match(/\$\$/g)?.length ?? 0) % 2 === 1) inBody = !inBody;
    if (!inBody && line.trimEnd().endsWith(';')) {
      statements.push(current.trim().replace(/;$/, ''));
      current = '';
    }
  }
  if (current.trim()) statements.push(current.trim());
  return statements;
}

/**
 * Reference counting for a store: `open` on the first acquire, `close` on the
 * last release; concurrent acquires share the opening.
 */
export function refCounted(open: () => Promise<void>, close: () => Promise<void>) {
  let users = 0;
  let opening: Promise<void> | undefined;
  return {
    acquire: async (): Promise<void> => {
      users++;
      try {
        await (opening ??= open());
      } catch (error) {
        users--;
        opening = undefined;
        throw error;
      }
    },
    release: async (): Promise<void> => {
      if (users === 0) return;
      if (--users > 0) return;
      opening = undefined;
      await close();
    },
  };
}
