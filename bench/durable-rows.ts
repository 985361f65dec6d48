/**
 * Setups of bench/durable.ts (never timed): deadlines as both JavaScript and
 * SQL can make them, and live rows copied from one that `new` wrote.
 */
import type { DurableStore } from '../src/durable/index.js';

/**
 * Deadlines of a setup, as SQL can make them too: entity i of n is due at
 * `base + floor(spread × i ÷ n)` (spread 0: all at base).
 */
export interface Deadlines {
  base: number;
  spread: number;
}
/** Entity i of n's deadline (epoch ms). */
export const deadlineOf = ({ base, spread }: Deadlines, i: number, n: number) => base + Math.floor((spread * i) / n);

/**
 * Not timed: n live entities of `namespace`, copies of the one `seed` that
 * `new` wrote (id, generation, deadline, due and data changed): rows as the
 * manager writes them, at the speed of one INSERT … SELECT, as pg-boss's
 * setup uses its bulk insert. The generation sequence moves past the copies.
 */
export async function cloneRows(store: DurableStore, namespace: string, seed: string, prefix: string, n: number, { base, spread }: Deadlines): Promise<void> {
  const s = store.schema;
  // Every column of the table as it is, five of them changed: whatever else the schema holds is copied.
  const changed: Record<string, string> = {
    id: '$3 || g',
    generation: 'e.generation + 1 + g',
    deadline: 'x.d',
    due: 'x.d',
    data: 'to_jsonb(g)',
  };
  const columns = (
    await store.query(
      `SELECT column_name AS name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'entities' ORDER BY ordinal_position`,
      [s],
    )
  ).map((row) => String(row.name));
  await store.query(
    `INSERT INTO ${s}.entities (${columns.join(', ')})
     SELECT ${columns.map((c) => changed[c] ?? `e.${c}`).join(', ')}
     FROM ${s}.entities e, generate_series(0, $4::int - 1) g, LATERAL (SELECT $5::float8 + floor($6::float8 * g / $4::int) AS d) x
     WHERE e.namespace = $1 AND e.id = $2`,
    [namespace, seed, prefix, n, base, spread],
  );
  await store.query(
    `SELECT setval('${s}.generations', greatest((SELECT last_value FROM ${s}.generations), (SELECT max(generation) FROM ${s}.entities)))`,
  );
}
