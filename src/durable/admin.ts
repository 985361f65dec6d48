import type { DurableStore } from './store.js';

/** Live entities by top-level state: `expired.queued` counts as `expired`. */
export type StateCounts = Record<'active' | 'paused' | 'expired', number>;

/** The top-level state of a stored leaf state (`expired.queued` → `expired`). */
export function topState(state: string): string {
  const dot = state.indexOf('.');
  return dot < 0 ? state : state.slice(0, dot);
}

/** How many live entities `namespace` has in each top-level state (one query). */
export async function countByState(store: Pick<DurableStore, 'query' | 'schema'>, namespace: string): Promise<StateCounts> {
  const rows = await store.query(
    `SELECT state, count(*)::float8 AS n FROM ${store.schema}.entities WHERE namespace = $1 AND live GROUP BY state`,
    [namespace],
  );
  const counts: StateCounts = { active: 0, paused: 0, expired: 0 };
  for (const row of rows) {
    const top = topState(row.state as string) as keyof StateCounts;
    counts[top] = (counts[top] ?? 0) + Number(row.n);
  }
  return counts;
}
