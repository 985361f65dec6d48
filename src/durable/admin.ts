import type { DurableStore } from './store.js';
import { plansFor } from './plans.js';

/** Live entities by top-level state: `expired.queued` counts as `expired`. */
export type StateCounts = Record<'active' | 'paused' | 'expired' | 'failed', number>;

/** The top-level state of a stored leaf state (`expired.queued` → `expired`). */
export function topState(state: string): string {
  const dot = state.indexOf('.');
  return dot < 0 ? state : state.slice(0, dot);
}

/** How many live entities `namespace` has in each top-level state (one query). */
export async function countByState(store: Pick<DurableStore, 'query' | 'schema'>, namespace: string): Promise<StateCounts> {
  const rows = await store.query(plansFor(store.schema).countLive, [namespace]);
  const counts: StateCounts = { active: 0, paused: 0, expired: 0, failed: 0 };
  for (const row of rows) {
    const top = topState(row.state as string) as keyof StateCounts;
    // Stryker disable next-line LogicalOperator: each top state comes once (GROUP BY state; of expired, only expired.queued is live), so its count is still 0
    counts[top] = (counts[top] ?? 0) + Number(row.n);
  }
  return counts;
}

/** A stored entity as an operator sees it: live or closing. */
export interface StoredEntity {
  id: string;
  /** The statechart's leaf state: `active`, `paused`, `expired.queued`, `expired.closing`. */
  state: string;
  /** Whether the manager holds it (false once its close has started). */
  live: boolean;
  /** Its deadline, epoch ms on the database's clock. */
  deadline: number;
  closer: string;
  data: unknown;
  generation: number;
  /** The process running its close (its claim), if any. */
  owner: string | null;
  /** When that claim ends unless renewed, epoch ms. */
  leaseUntil: number | null;
  /** The processes holding its pause (paused only): it lasts while any of them lives. */
  holders: string[];
  /** When its statechart's next delayed event comes (its deadline, a pause's or close's timeout, a backoff's end), epoch ms. */
  due: number | null;
}

/** What `xstate-expire status` reports for a namespace. */
export interface StoreStatus {
  namespace: string;
  /** The schema's version in the database. */
  schemaVersion: number;
  /** Entities by leaf state (live ones, and closes running). */
  states: Record<string, number>;
  /** The earliest deadline of a live active or paused entity, epoch ms; `null` when none. */
  earliestDeadline: number | null;
  /** The database's time, epoch ms. */
  now: number;
}


const toStored = (row: Record<string, unknown>): StoredEntity => ({
  id: row.id as string,
  state: row.state as string,
  live: row.live as boolean,
  deadline: Number(row.deadline),
  closer: row.closer as string,
  data: row.data ?? null,
  generation: Number(row.generation),
  owner: (row.owner as string | null) ?? null,
  // Stryker disable next-line ConditionalExpression: the query always returns the column, null and never undefined
  leaseUntil: row.lease_until === null || row.lease_until === undefined ? null : Number(row.lease_until),
  // Stryker disable next-line ArrayDeclaration: the column is NOT NULL (default '{}'), so the fallback is never taken
  holders: (row.holders as string[] | null) ?? [],
  // Stryker disable next-line ConditionalExpression: the query always returns the column, null and never undefined
  due: row.due === null || row.due === undefined ? null : Number(row.due),
});

/** Counts by state, the earliest deadline and the schema version of `namespace` (reads only). */
export async function storeStatus(store: Pick<DurableStore, 'query' | 'schema'>, namespace: string): Promise<StoreStatus> {
  const plans = plansFor(store.schema);
  const rows = await store.query(plans.countAll, [namespace]);
  const [row] = await store.query(plans.status, [namespace]);
  return {
    namespace,
    // Stryker disable next-line OptionalChaining: a SELECT of scalars without FROM returns one row, always
    schemaVersion: Number(row?.version ?? 0),
    states: Object.fromEntries(rows.map((r) => [r.state as string, Number(r.n)])),
    // Stryker disable next-line OptionalChaining,ConditionalExpression: one row, always, whose column is null and never undefined
    earliestDeadline: row?.earliest === null || row?.earliest === undefined ? null : Number(row.earliest),
    // Stryker disable next-line OptionalChaining: one row, always
    now: Number(row?.now),
  };
}

/**
 * The entities of `namespace` by id (live ones and closes running), at most
 * `limit`; with `state`, only those in it: a top-level state (`expired`) or a
 * leaf (`expired.closing`).
 */
export async function listStored(
  store: Pick<DurableStore, 'query' | 'schema'>,
  namespace: string,
  { state, limit = 100 }: { state?: string; limit?: number } = {},
): Promise<StoredEntity[]> {
  const rows = await store.query(plansFor(store.schema).stored, [namespace, state ?? null, limit]);
  return rows.map(toStored);
}

/** The rows of `id` in `namespace`: its live entity and any close of it still running (oldest first). */
export async function getStored(store: Pick<DurableStore, 'query' | 'schema'>, namespace: string, id: string): Promise<StoredEntity[]> {
  const rows = await store.query(plansFor(store.schema).storedById, [namespace, id]);
  return rows.map(toStored);
}
