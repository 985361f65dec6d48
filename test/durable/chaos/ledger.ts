/**
 * The chaos test's records, in two places:
 *
 * - the **ledger**: a database on a second PostgreSQL server that the chaos never
 *   touches, so an acknowledged ledger write survives every crash the test causes
 *   and a ledger write never waits for the server under test to come back. Workers
 *   write what they do (protocol calls, closer invocations, effects, heartbeats)
 *   and when their event loop was starved (lag.ts); the parent
 *   writes what it does to them (SIGKILL, SIGSTOP, SIGCONT, the server's crash).
 * - the **audit**: a trigger on the server under test's `entities` table that logs
 *   every change of an entity's state, generation, owner or liveness in the same
 *   transaction as the change. It is the database's own history of the statechart
 *   (committed exactly when the change is), which no process could report itself:
 *   which generation a call paused, renewed, deleted or claimed, and when. A
 *   second trigger logs each heartbeat's renewal of a claim or pause (`renewals`).
 *
 * Every time is `clock_timestamp()` in ms on one machine (both servers read the
 * same system clock, and so does a worker's `Date.now()` in `lags` and `beats`); the audit's time is read inside the transaction, before its
 * COMMIT, so a change audited at `t` was not yet visible to anyone before `t`.
 */

/** `clock_timestamp()` in epoch ms, as SQL. */
export const NOW = `(extract(epoch FROM clock_timestamp()) * 1000)::float8`;

/** The ledger's tables (on the ledger server). */
export const LEDGER_SCHEMA = `
  CREATE TABLE workers (
    pid int NOT NULL,
    owner text PRIMARY KEY,      -- the manager's id (a reopened manager is a new owner in the same pid)
    slot int NOT NULL,           -- which ids it updates: its slot's
    opened double precision NOT NULL
  );
  CREATE TABLE actions (         -- what the chaos did, written by the parent
    seq serial PRIMARY KEY,
    at double precision NOT NULL,
    kind text NOT NULL,          -- kill, stop, cont, dispose, reopened, server-kill, server-up, spawn
    pid int,
    detail text
  );
  CREATE TABLE ops (             -- protocol calls, one row each
    seq bigserial PRIMARY KEY,
    pid int NOT NULL,
    owner text NOT NULL,
    kind text NOT NULL,          -- update, close, fail, delete
    id text NOT NULL,
    nonce text,                  -- an update's renewal carries it in its data
    begin_at double precision NOT NULL,
    held_at double precision,    -- inside the callback (update, close): the pause is this process's
    held_generation bigint,      -- the live row then (get()), paused by this call
    held_state text,
    release_at double precision, -- the callback's end: the pause was held at least until then
    end_at double precision,
    result text                  -- ok, true, false, injected, error: ...
  );
  CREATE TABLE invocations (     -- every closer call
    token uuid PRIMARY KEY,
    id text NOT NULL,
    generation bigint NOT NULL,
    nonce text,
    deadline double precision,
    pid int NOT NULL,
    owner text NOT NULL,
    started double precision NOT NULL,
    aborted_at_entry boolean NOT NULL,
    disposing_at_entry boolean NOT NULL, -- its process was disposing a manager (and had not opened the next)
    finished double precision,
    aborted_at_end boolean
  );
  CREATE TABLE effects (         -- the effect, idempotent on (id, generation): applied once
    id text NOT NULL,
    generation bigint NOT NULL,
    kind text NOT NULL,          -- closer, or user (protocol.close's callback)
    nonce text,
    deadline double precision,
    token uuid NOT NULL,
    at double precision NOT NULL,
    PRIMARY KEY (id, generation)
  );
  CREATE TABLE lags (            -- a worker's event loop late beyond LAG_MIN_MS: it ran nothing from from_at to to_at
    pid int NOT NULL,
    from_at double precision NOT NULL,
    to_at double precision NOT NULL
  );
  CREATE TABLE beats (           -- a heartbeat's renewal of the claims or pauses its worker holds, as the store ran it
    pid int NOT NULL,
    kind text NOT NULL,          -- claims (renewClaims) or pauses (renewPauses)
    keys text[] NOT NULL,        -- id#generation
    sent_at double precision NOT NULL,  -- the statement sent (the worker's clock)
    now_at double precision NOT NULL,   -- the transaction's now, which the renewal counts its timeout from
    done_at double precision,           -- its transaction committed (null: it failed)
    error text
  );
  CREATE TABLE attempts (        -- every attempt to apply an effect, and whether it applied
    token uuid PRIMARY KEY,
    id text NOT NULL,
    generation bigint NOT NULL,
    kind text NOT NULL,
    nonce text,
    deadline double precision,
    pid int NOT NULL,
    at double precision NOT NULL,
    applied boolean NOT NULL
  );
`;

/**
 * Applies an effect for `(id, generation)` once, and records the attempt, in one
 * statement: $1 token, $2 id, $3 generation, $4 kind, $5 nonce, $6 deadline, $7 pid.
 */
export const APPLY_EFFECT = `
  WITH applied AS (
    INSERT INTO effects (id, generation, kind, nonce, deadline, token, at)
    VALUES ($2, $3, $4, $5, $6, $1, ${NOW})
    ON CONFLICT (id, generation) DO NOTHING
    RETURNING 1
  )
  INSERT INTO attempts (token, id, generation, kind, nonce, deadline, pid, at, applied)
  SELECT $1, $2, $3, $4, $5, $6, $7, ${NOW}, EXISTS (SELECT 1 FROM applied)
  RETURNING applied`;

/** The audit of `<schema>.entities` on the server under test: table and triggers. */
export function auditSchema(s: string): string[] {
  return [
    `CREATE TABLE ${s}.audit (
      seq bigserial PRIMARY KEY,
      at double precision NOT NULL,
      op text NOT NULL,               -- I, U, D
      by text NOT NULL,               -- application_name: chaos_<pid>
      id text NOT NULL,
      old_generation bigint,
      new_generation bigint,
      old_state text,
      new_state text,
      new_live boolean,
      new_owner text,
      new_lease_event text,
      deadline double precision,
      nonce text
    )`,
    `CREATE FUNCTION ${s}.audited() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP = 'INSERT' THEN
         INSERT INTO ${s}.audit (at, op, by, id, new_generation, new_state, new_live, new_owner, new_lease_event, deadline, nonce)
         VALUES (${NOW}, 'I', current_setting('application_name'), NEW.id, NEW.generation, NEW.state, NEW.live,
                 NEW.owner, NEW.lease_event, NEW.deadline, NEW.data->>'nonce');
         RETURN NEW;
       ELSIF TG_OP = 'UPDATE' THEN
         INSERT INTO ${s}.audit (at, op, by, id, old_generation, new_generation, old_state, new_state, new_live, new_owner,
                                 new_lease_event, deadline, nonce)
         VALUES (${NOW}, 'U', current_setting('application_name'), NEW.id, OLD.generation, NEW.generation, OLD.state,
                 NEW.state, NEW.live, NEW.owner, NEW.lease_event, NEW.deadline, NEW.data->>'nonce');
         RETURN NEW;
       ELSE
         INSERT INTO ${s}.audit (at, op, by, id, old_generation, old_state, deadline, nonce)
         VALUES (${NOW}, 'D', current_setting('application_name'), OLD.id, OLD.generation, OLD.state, OLD.deadline,
                 OLD.data->>'nonce');
         RETURN OLD;
       END IF;
     END $$`,
    `CREATE TRIGGER audit_insert AFTER INSERT ON ${s}.entities FOR EACH ROW EXECUTE FUNCTION ${s}.audited()`,
    // A heartbeat only moves lease_until: not a change of the statechart.
    `CREATE TRIGGER audit_update AFTER UPDATE ON ${s}.entities FOR EACH ROW
       WHEN ((OLD.state, OLD.generation, OLD.owner, OLD.live, OLD.lease_event)
             IS DISTINCT FROM (NEW.state, NEW.generation, NEW.owner, NEW.live, NEW.lease_event))
       EXECUTE FUNCTION ${s}.audited()`,
    `CREATE TRIGGER audit_delete AFTER DELETE ON ${s}.entities FOR EACH ROW EXECUTE FUNCTION ${s}.audited()`,
    // A heartbeat's renewal, apart: committed exactly when the lease it extends is (a renewal rolled
    // back with a killed holder's transaction leaves no row), which no worker's own log can tell.
    `CREATE TABLE ${s}.renewals (
      seq bigserial PRIMARY KEY,
      at double precision NOT NULL,
      by text NOT NULL,
      id text NOT NULL,
      generation bigint NOT NULL,
      state text NOT NULL,
      lease_until double precision,   -- a claim's (expired.closing)
      due double precision            -- a pause's (paused)
    )`,
    `CREATE FUNCTION ${s}.renewed() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       INSERT INTO ${s}.renewals (at, by, id, generation, state, lease_until, due)
       VALUES (${NOW}, current_setting('application_name'), NEW.id, NEW.generation, NEW.state, NEW.lease_until, NEW.due);
       RETURN NEW;
     END $$`,
    `CREATE TRIGGER audit_renewal AFTER UPDATE ON ${s}.entities FOR EACH ROW
       WHEN ((OLD.state, OLD.generation, OLD.owner, OLD.live, OLD.lease_event)
             IS NOT DISTINCT FROM (NEW.state, NEW.generation, NEW.owner, NEW.live, NEW.lease_event)
             AND (OLD.lease_until, OLD.due) IS DISTINCT FROM (NEW.lease_until, NEW.due))
       EXECUTE FUNCTION ${s}.renewed()`,
  ];
}

/** A chaos action, as the parent recorded it. */
export interface ActionRow {
  seq: number;
  at: number;
  kind: string;
  pid: number | null;
  detail: string | null;
}

/** A protocol call, as its worker recorded it. */
export interface OpRow {
  seq: number;
  pid: number;
  owner: string;
  kind: string;
  id: string;
  nonce: string | null;
  begin_at: number;
  held_at: number | null;
  held_generation: number | null;
  held_state: string | null;
  release_at: number | null;
  end_at: number | null;
  result: string | null;
}

/** A closer invocation. */
export interface InvocationRow {
  id: string;
  generation: number;
  nonce: string | null;
  deadline: number | null;
  pid: number;
  owner: string;
  started: number;
  aborted_at_entry: boolean;
  disposing_at_entry: boolean;
  finished: number | null;
  aborted_at_end: boolean | null;
}

/** An attempt to apply an effect. */
export interface AttemptRow {
  id: string;
  generation: number;
  kind: string;
  nonce: string | null;
  deadline: number | null;
  pid: number;
  at: number;
  applied: boolean;
}

/** A change of an entity row, from the audit. */
export interface AuditRow {
  seq: number;
  at: number;
  op: 'I' | 'U' | 'D';
  by: string;
  id: string;
  old_generation: number | null;
  new_generation: number | null;
  old_state: string | null;
  new_state: string | null;
  new_live: boolean | null;
  new_owner: string | null;
  new_lease_event: string | null;
  deadline: number | null;
  nonce: string | null;
}

/** A stretch of time in which a worker's event loop ran none of its timers (chaos/lag.ts). */
export interface LagRow {
  pid: number;
  from_at: number;
  to_at: number;
}

/** A heartbeat's renewal of the claims or the pauses a worker held. */
export interface BeatRow {
  pid: number;
  kind: 'claims' | 'pauses';
  keys: string[];
  sent_at: number;
  now_at: number;
  done_at: number | null;
  error: string | null;
}

/** A renewal of a claim or a pause as the database committed it (the audit's `renewals`). */
export interface RenewalRow {
  at: number;
  by: string;
  id: string;
  generation: number;
  state: string;
  lease_until: number | null;
  due: number | null;
}

/** A worker's manager. */
export interface WorkerRow {
  pid: number;
  owner: string;
  slot: number;
  opened: number;
}

/** Everything the verdict reads. */
export interface Records {
  workers: WorkerRow[];
  actions: ActionRow[];
  ops: OpRow[];
  invocations: InvocationRow[];
  attempts: AttemptRow[];
  audit: AuditRow[];
  /** When each worker was starved (its event loop late). */
  lags: LagRow[];
  /** Each worker's heartbeats, as it logged them: evidence printed with a lost pause. */
  beats: BeatRow[];
  /** Every renewal of a claim or pause the database committed. */
  renewals: RenewalRow[];
  /** Rows left in `entities` after the quiescence wait. */
  leftover: Array<Record<string, unknown>>;
}

type Q = (sql: string) => Promise<Array<Record<string, unknown>>>;

/** Reads the ledger (`ledger`) and the audit (`sut`, schema `s`); bigints as numbers (µs generations fit in 2^53). */
export async function readRecords(ledger: Q, sut: Q, s: string): Promise<Records> {
  return {
    workers: (await ledger(`SELECT * FROM workers ORDER BY opened`)) as unknown as WorkerRow[],
    actions: (await ledger(`SELECT * FROM actions ORDER BY at, seq`)) as unknown as ActionRow[],
    ops: (await ledger(
      `SELECT seq::float8 AS seq, pid, owner, kind, id, nonce, begin_at, held_at, held_generation::float8 AS held_generation,
              held_state, release_at, end_at, result FROM ops ORDER BY seq`,
    )) as unknown as OpRow[],
    invocations: (await ledger(
      `SELECT id, generation::float8 AS generation, nonce, deadline, pid, owner, started, aborted_at_entry, disposing_at_entry, finished, aborted_at_end
         FROM invocations ORDER BY started`,
    )) as unknown as InvocationRow[],
    attempts: (await ledger(
      `SELECT id, generation::float8 AS generation, kind, nonce, deadline, pid, at, applied FROM attempts ORDER BY at`,
    )) as unknown as AttemptRow[],
    audit: (await sut(
      `SELECT seq::float8 AS seq, at, op, by, id, old_generation::float8 AS old_generation, new_generation::float8 AS new_generation,
              old_state, new_state, new_live, new_owner, new_lease_event, deadline, nonce FROM ${s}.audit ORDER BY seq`,
    )) as unknown as AuditRow[],
    lags: (await ledger(`SELECT pid, from_at, to_at FROM lags ORDER BY from_at`)) as unknown as LagRow[],
    beats: (await ledger(`SELECT pid, kind, keys, sent_at, now_at, done_at, error FROM beats ORDER BY sent_at`)) as unknown as BeatRow[],
    renewals: (await sut(
      `SELECT at, by, id, generation::float8 AS generation, state, lease_until, due FROM ${s}.renewals ORDER BY seq`,
    )) as unknown as RenewalRow[],
    leftover: await sut(
      `SELECT id, generation::float8 AS generation, state, live, owner, lease_event, lease_until, due, deadline FROM ${s}.entities`,
    ),
  };
}
