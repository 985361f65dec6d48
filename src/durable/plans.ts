/**
 * Every SQL statement the durable manager runs on its entities, by name, for
 * one schema: built once per schema and shared (as pg-boss keeps its
 * `plans`). Each comment lists the statement's parameters. The schema itself
 * (its migrations) is in store.ts; the store adapters' own statements
 * (transactions, LISTEN) are theirs.
 *
 * `$1` is always the namespace. Times are ms on the database's clock
 * (`now_ms()`); an entity's key is `(id, generation)`.
 */
export interface Plans {
  /** Starts a transaction's work: `$1` the idle-in-transaction timeout (ms) → `now`. */
  readonly begin: string;
  /** {@link Plans.begin}, with a generation no entity ever had → `now`, `generation`. */
  readonly beginWithGeneration: string;
  /** The live row of `$2` (id), locked. */
  readonly live: string;
  /** {@link Plans.live} opening its transaction (see {@link opened}): `$3` the idle timeout, `$4` how many generations. */
  readonly openLive: string;
  /** The live rows of the ids `$2`, locked in id order, opening the transaction: `$3` the idle timeout, `$4` how many generations. */
  readonly openLives: string;
  /** The rows of the keys `$2`, `$3` that `$4` (an owner) holds, locked in key order, opening the transaction: `$5` the idle timeout, `$6` how many generations. */
  readonly openByKeys: string;
  /**
   * The rows of closers `$2` due on the transaction's own `now`, at most `$3`, locked, skipping locked ones;
   * unless `$4` (room for a close), not those whose close waits for a claim. Opens the transaction: `$5` the
   * idle timeout, `$6` how many generations.
   */
  readonly openDue: string;
  /** The row `$2` (id), `$3` (generation), locked; only while `$4` (an owner) holds it, unless null. */
  readonly byKey: string;
  /** Whether a live row other than generation `$3` holds the id `$2` → `taken`. */
  readonly idTaken: string;
  /** Inserts a row: `$1`…`$18` as {@link ROW_VALUES} lists them. */
  readonly insert: string;
  /** Updates the row of generation `$19` (its key before this step) to `$1`…`$18`. */
  readonly update: string;
  /** Deletes the row `$2` (id), `$3` (generation). */
  readonly delete: string;
  /** Inserts the rows of `$2`, a JSON array of objects keyed by {@link ROW_VALUES} (but `namespace`; `data` as JSON text). */
  readonly insertMany: string;
  /** Updates rows to `$2`, a JSON array as {@link Plans.insertMany} takes, each with `key`: its generation before this step. */
  readonly updateMany: string;
  /** Deletes the rows of the keys `$2` (ids), `$3` (generations). */
  readonly deleteMany: string;
  /** Wakes every manager listening on the schema's channel: `$1` the channel, `$2` `namespace\nearliest`. */
  readonly notify: string;
  /** Extends by their `lease_ms` the claims `$2` (owner) holds among the keys `$4`, `$5`, from `$3` (now) → `key`. */
  readonly renewClaims: string;
  /** Pushes to at least `$2` (now) + `$3` (ms) the due time of the paused rows among the keys `$5`, `$6` that `$4` (owner) holds. */
  readonly renewPauses: string;
  /** The keys among `$2`, `$3` whose row is still live → `key`. */
  readonly liveKeys: string;
  /** How many of the keys `$2`, `$3` still have a row that may close: in any state but `failed` → `n`. */
  readonly countUnsettled: string;
  /** The earliest due time or lease end of closers `$2` → `at`, and the database's `now`. */
  readonly next: string;
  /** The leaf state of the live row of `$2` (id) → `state`. */
  readonly state: string;
  /** The live row of `$2` (id), as {@link ENTITY} reads it. */
  readonly entity: string;
  /** The live rows, by id, at most `$2`, in the top-level state `$3` unless null, as {@link ENTITY} reads them. */
  readonly entities: string;
  /** How many live rows → `n`. */
  readonly size: string;
  /** The ids of the live rows → `id`. */
  readonly liveIds: string;
  /** Live rows by leaf state → `state`, `n`. */
  readonly countLive: string;
  /** Every row by leaf state, live or closing → `state`, `n`. */
  readonly countAll: string;
  /** The earliest deadline of active and paused rows → `earliest`, the schema's `version`, the database's `now`. */
  readonly status: string;
  /** The rows (live and closing) by id, at most `$3`, in the state `$2` (top-level or leaf) unless null, as {@link STORED} reads them. */
  readonly stored: string;
  /** The rows of the id `$2`, oldest first, as {@link STORED} reads them. */
  readonly storedById: string;
}

/** The row's columns a transaction reads and writes; numbers as JavaScript numbers on every driver. */
const COLUMNS = `id, generation::float8 AS generation, state, live, deadline, due, closer, data, owner,
  lease_state, lease_until, lease_ms, lease_event, holders, attempt, last_error, close_deadline`;

/** The parameters of {@link Plans.insert} and {@link Plans.update}, in order. */
const ROW_VALUES = [
  'namespace', 'id', 'generation', 'state', 'live', 'deadline', 'due', 'closer', 'data',
  'owner', 'lease_state', 'lease_until', 'lease_ms', 'lease_event', 'holders', 'attempt', 'last_error', 'close_deadline',
] as const;

/** The columns of an entity as the manager's `get` and `list` read it. */
const ENTITY = 'id, state, deadline, closer, data, generation::float8 AS generation, attempt, last_error';

/** The columns of a stored entity as an operator sees it (`admin.ts`). */
const STORED = `id, state, live, deadline, closer, data, generation::float8 AS generation, owner, lease_until, holders, due`;

/** Keys `(id, generation)` from two array parameters, `$first` and the next: found by the primary key. */
const keysAt = (first: number): string => `SELECT unnest($${first}::text[]), unnest($${first + 1}::bigint[])`;

/** The SQL types of {@link ROW_VALUES} (but `namespace`) as a JSON row carries them: `data` is JSON text, cast on write. */
const ROW_TYPES = `id text, generation bigint, state text, live boolean, deadline float8, due float8, closer text, data text,
  owner text, lease_state text, lease_until float8, lease_ms float8, lease_event text, holders text[], attempt integer,
  last_error text, close_deadline float8`;

/**
 * A read that opens its transaction, in one round trip instead of two: the
 * statement first sets the idle-in-transaction timeout, reads the database's
 * clock (`tx_now`) and draws `$count` generations (`tx_generations`), then
 * runs `read` (which may use `b.tx_now`); one row even when `read` finds none
 * (its columns null then). `$timeout` and `$count` are the two parameters
 * after `read`'s.
 */
function opened(s: string, read: string, params: number): string {
  return `SELECT b.tx_now, b.tx_generations, r.* FROM (
    SELECT set_config('idle_in_transaction_session_timeout', $${params + 1}, true) AS tx_timeout, ${s}.now_ms() AS tx_now,
      ARRAY(SELECT nextval('${s}.generations')::float8 FROM generate_series(1, $${params + 2}::int)) AS tx_generations
  ) b LEFT JOIN LATERAL (${read}) r ON true`;
}

const built = new Map<string, Plans>();

/** The statements for `schema` (a validated identifier), built once. */
export function plansFor(schema: string): Plans {
  let plans = built.get(schema);
  // Stryker disable next-line ConditionalExpression: building them again gives the same statements (a cost)
  if (plans === undefined) {
    plans = build(schema);
    built.set(schema, plans);
  }
  return plans;
}

function build(s: string): Plans {
  const begin = `SELECT set_config('idle_in_transaction_session_timeout', $1, true), ${s}.now_ms() AS now`;
  const placeholders = ROW_VALUES.map((_, i) => `$${i + 1}`);
  // Stryker disable next-line StringLiteral: PostgreSQL infers jsonb for $9 from its column without the cast too
  placeholders[8] += '::jsonb';
  return {
    begin,
    beginWithGeneration: `${begin}, nextval('${s}.generations')::float8 AS generation`,
    live: `SELECT ${COLUMNS} FROM ${s}.entities WHERE namespace = $1 AND id = $2 AND live FOR UPDATE`,
    openLive: opened(s, `SELECT ${COLUMNS} FROM ${s}.entities WHERE namespace = $1 AND id = $2 AND live FOR UPDATE`, 2),
    openLives: opened(s, `SELECT ${COLUMNS} FROM ${s}.entities WHERE namespace = $1 AND id = ANY($2) AND live ORDER BY id FOR UPDATE`, 2),
    openByKeys: opened(
      s,
      `SELECT ${COLUMNS} FROM ${s}.entities WHERE namespace = $1 AND (id, generation) IN (${keysAt(2)}) AND owner = $4
        ORDER BY id, generation FOR UPDATE`,
      4,
    ),
    // No ORDER BY: everything returned is due, and a sort would read the whole backlog. Without room,
    // closes waiting for a claim are left out: else a backlog of them fills every batch, and the
    // deadlines behind it pass unseen.
    openDue: opened(
      s,
      `SELECT ${COLUMNS} FROM ${s}.entities
        WHERE namespace = $1 AND closer = ANY($2) AND (due <= b.tx_now OR lease_until <= b.tx_now)
          AND ($4::boolean OR (lease_until <= b.tx_now AND lease_event IN ('close', 'reclaim')) IS NOT TRUE)
        LIMIT $3 FOR UPDATE SKIP LOCKED`,
      4,
    ),
    byKey: `SELECT ${COLUMNS} FROM ${s}.entities
      WHERE namespace = $1 AND id = $2 AND generation = $3 AND ($4::text IS NULL OR owner = $4) FOR UPDATE`,
    idTaken: `SELECT 1 AS taken FROM ${s}.entities WHERE namespace = $1 AND id = $2 AND live AND generation <> $3`,
    insert: `INSERT INTO ${s}.entities (${ROW_VALUES.join(', ')}) VALUES (${placeholders.join(', ')})`,
    update: `UPDATE ${s}.entities SET ${ROW_VALUES.slice(2)
      .map((column, i) => `${column} = ${placeholders[i + 2]}`)
      .join(', ')} WHERE namespace = $1 AND id = $2 AND generation = $19`,
    delete: `DELETE FROM ${s}.entities WHERE namespace = $1 AND id = $2 AND generation = $3`,
    insertMany: `INSERT INTO ${s}.entities (${ROW_VALUES.join(', ')})
      SELECT $1, ${ROW_VALUES.slice(1).map((c) => (c === 'data' ? 'r.data::jsonb' : `r.${c}`)).join(', ')}
      FROM jsonb_to_recordset($2::jsonb) AS r(${ROW_TYPES})`,
    updateMany: `UPDATE ${s}.entities AS e SET ${ROW_VALUES.slice(2)
      .map((c) => `${c} = ${c === 'data' ? 'r.data::jsonb' : `r.${c}`}`)
      .join(', ')}
      FROM jsonb_to_recordset($2::jsonb) AS r(${ROW_TYPES}, key bigint)
      WHERE e.namespace = $1 AND e.id = r.id AND e.generation = r.key`,
    deleteMany: `DELETE FROM ${s}.entities WHERE namespace = $1 AND (id, generation) IN (${keysAt(2)})`,
    notify: `SELECT pg_notify($1, $2)`,
    renewClaims: `UPDATE ${s}.entities SET lease_until = $3 + lease_ms
      WHERE namespace = $1 AND owner = $2 AND lease_event = 'reclaim' AND (id, generation) IN (${keysAt(4)})
      RETURNING id || '#' || generation AS key`,
    renewPauses: `UPDATE ${s}.entities SET due = greatest(due, $2::float8 + $3::float8)
      WHERE namespace = $1 AND live AND state = 'paused' AND $4 = ANY(holders) AND (id, generation) IN (${keysAt(5)})`,
    liveKeys: `SELECT id || '#' || generation AS key FROM ${s}.entities
      WHERE namespace = $1 AND live AND (id, generation) IN (${keysAt(2)})`,
    countUnsettled: `SELECT count(*)::float8 AS n FROM ${s}.entities
      WHERE namespace = $1 AND state <> 'failed' AND (id, generation) IN (${keysAt(2)})`,
    // Two minimums, each read in the order of its index (a min over least() would scan every row).
    next: `SELECT least(
      (SELECT due FROM ${s}.entities WHERE namespace = $1 AND closer = ANY($2) AND due IS NOT NULL ORDER BY due LIMIT 1),
      (SELECT lease_until FROM ${s}.entities WHERE namespace = $1 AND closer = ANY($2) AND lease_until IS NOT NULL
        ORDER BY lease_until LIMIT 1)
    ) AS at, ${s}.now_ms() AS now`,
    state: `SELECT state FROM ${s}.entities WHERE namespace = $1 AND id = $2 AND live`,
    entity: `SELECT ${ENTITY} FROM ${s}.entities WHERE namespace = $1 AND id = $2 AND live`,
    entities: `SELECT ${ENTITY} FROM ${s}.entities
      WHERE namespace = $1 AND live AND ($3::text IS NULL OR split_part(state, '.', 1) = $3) ORDER BY id LIMIT $2`,
    size: `SELECT count(*)::float8 AS n FROM ${s}.entities WHERE namespace = $1 AND live`,
    liveIds: `SELECT id FROM ${s}.entities WHERE namespace = $1 AND live`,
    countLive: `SELECT state, count(*)::float8 AS n FROM ${s}.entities WHERE namespace = $1 AND live GROUP BY state`,
    countAll: `SELECT state, count(*)::float8 AS n FROM ${s}.entities WHERE namespace = $1 GROUP BY state ORDER BY state`,
    status: `SELECT (SELECT min(deadline) FROM ${s}.entities WHERE namespace = $1 AND live AND state IN ('active', 'paused')) AS earliest,
      (SELECT max(version) FROM ${s}.schema_version) AS version, ${s}.now_ms() AS now`,
    stored: `SELECT ${STORED} FROM ${s}.entities
      WHERE namespace = $1 AND ($2::text IS NULL OR state = $2 OR state LIKE $2 || '.%')
      ORDER BY id, generation LIMIT $3`,
    storedById: `SELECT ${STORED} FROM ${s}.entities WHERE namespace = $1 AND id = $2 ORDER BY generation`,
  };
}

/** The two array parameters of keys `id#generation` (an id may hold `#`; the generation never does). */
export function keyParams(keys: readonly string[]): [string[], string[]] {
  const ids: string[] = [];
  const generations: string[] = [];
  for (const key of keys) {
    const at = key.lastIndexOf('#');
    ids.push(key.slice(0, at));
    generations.push(key.slice(at + 1));
  }
  return [ids, generations];
}
