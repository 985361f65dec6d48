/**
 * A store wrapper that holds chosen transactions at chosen points, so that a
 * race is replayed as it happens in production (a slow network reply, a
 * commit that lands while something else runs), not hoped for.
 *
 * Every transaction is named after the statements it ran (see `kindOf`). A
 * test installs a rule: which kind to hold, and where: before its COMMIT (its
 * locks still held; on PGlite every other statement waits behind it), or after
 * it committed but before the caller sees the reply. The held transaction
 * waits until the test releases it; fast-check's scheduler can do the
 * releasing (see races.test.ts).
 */
import type { DurableStore, Query } from '../../src/durable/index.js';

/** What a transaction did, judged by its statements. */
export type TransactionKind =
  | 'claim' // a pass over due rows (SKIP LOCKED), whether or not it claimed
  | 'heartbeat' // a renewal of claims (their lease) or of pauses (their timeout, the row's due time)
  | 'call'; // anything else: new, stop, start, expire, delete, a completion, a hand-back

/** Where a transaction is held. */
export type HoldPoint = 'commit' | 'reply';

/** A transaction stopped at a hold point, until released. */
export interface Held {
  kind: TransactionKind;
  point: HoldPoint;
  statements: string[];
  release(): void;
}

/** Which transactions to hold: the first `count` of `kind` at `point` (after `skip` of them). */
export interface HoldRule {
  kind: TransactionKind;
  point: HoldPoint;
  count?: number;
  skip?: number;
}

/** The kind of a transaction, from the statements it ran. */
export function kindOf(statements: readonly string[]): TransactionKind {
  const all = statements.join('\n');
  if (all.includes('SKIP LOCKED')) return 'claim';
  if (/UPDATE \S+\.entities SET (lease_until =|due = greatest\(due,)/.test(all) && !all.includes('FOR UPDATE')) return 'heartbeat';
  return 'call';
}

/** Wraps `inner`; `hold` installs a rule and resolves with each transaction it stops. */
export function heldStore(inner: DurableStore) {
  const rules: Array<HoldRule & { seen: number; waiters: Array<(held: Held) => void>; held: Held[] }> = [];
  const gate = async (point: HoldPoint, statements: string[]): Promise<void> => {
    const kind = kindOf(statements);
    for (const rule of rules) {
      if (rule.kind !== kind || rule.point !== point) continue;
      const index = rule.seen++;
      if (index < (rule.skip ?? 0) || index >= (rule.skip ?? 0) + (rule.count ?? 1)) continue;
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const held: Held = { kind, point, statements, release };
      rule.held.push(held);
      rule.waiters.splice(0).forEach((wake) => wake(held));
      await released;
    }
  };
  const store: DurableStore = {
    get kind() {
      return inner.kind;
    },
    get schema() {
      return inner.schema;
    },
    acquire: () => inner.acquire(),
    release: () => inner.release(),
    query: (sql, params) => inner.query(sql, params),
    listen: (channel, onNotify, onReconnect) => inner.listen(channel, onNotify, onReconnect),
    transaction: async (work) => {
      const statements: string[] = [];
      const result = await inner.transaction(async (query) => {
        const recording: Query = (sql, params) => {
          statements.push(sql);
          return query(sql, params);
        };
        const value = await work(recording);
        await gate('commit', statements);
        return value;
      });
      await gate('reply', statements);
      return result;
    },
  };
  return {
    store,
    /** Holds the transactions the rule names; `next()` resolves with the next one held. */
    hold(rule: HoldRule) {
      const entry = { ...rule, seen: 0, waiters: [] as Array<(held: Held) => void>, held: [] as Held[] };
      rules.push(entry);
      return {
        next: (): Promise<Held> =>
          new Promise((resolve) => {
            const already = entry.held.shift();
            if (already) resolve(already);
            else entry.waiters.push((held) => resolve(entry.held.shift() ?? held));
          }),
        /** Stops holding (those held stay held until released). */
        stop: () => void rules.splice(rules.indexOf(entry), 1),
      };
    },
  };
}
