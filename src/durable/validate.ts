import { describe } from '../manager/validate.js';

/** Below this, an absolute deadline is a TTL by mistake: it would be before September 2001. */
const EARLIEST_DEADLINE = 1e12;

/**
 * A durable deadline as `{ deadline }` (absolute, epoch ms) or `{ ttlMs }`.
 *
 * @throws TypeError for NaN, an invalid Date, a TTL passed as a deadline (below 1e12), or a bad `ttlMs`.
 */
export function toDurableDeadline(
  owner: string,
  deadline: unknown,
): { deadline: number; ttlMs?: undefined } | { deadline?: undefined; ttlMs: number } {
  const fail = (): never => {
    throw new TypeError(
      `${owner}: the deadline must be epoch ms (Date.now() + ttl), a valid Date, or { ttlMs }, got ${describe(deadline)}`,
    );
  };
  if (deadline instanceof Date || typeof deadline === 'number') {
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    if (Number.isNaN(at) || at < EARLIEST_DEADLINE) fail();
    return { deadline: at };
  }
  if (deadline !== null && typeof deadline === 'object' && 'ttlMs' in deadline) {
    const { ttlMs } = deadline as { ttlMs: unknown };
    if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < 0) fail();
    return { ttlMs: ttlMs as number };
  }
  return fail();
}

/** Throws a TypeError unless `value` is JSON: null, booleans, finite numbers, strings, arrays and plain objects of them. */
export function assertJson(owner: string, value: unknown, path: string): void {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return;
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => assertJson(owner, item, `${path}[${i}]`));
    return;
  } else if (typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    for (const [key, item] of Object.entries(value as object)) assertJson(owner, item, `${path}.${key}`);
    return;
  }
  throw new TypeError(`${owner}: ${path} must be JSON, got ${describe(value)}`);
}
