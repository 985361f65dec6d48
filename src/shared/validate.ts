import type { CloseFn, ExpireClock, Executor } from '../types.js';

/** A short description of a bad value, for error messages. */
export const describe = (value: unknown): string =>
  value === null
    ? 'null'
    : typeof value === 'string' || typeof value === 'number'
      ? String(typeof value === 'string' ? JSON.stringify(value) : value)
      : value instanceof Date
        ? 'an invalid Date'
        : typeof value;

/** Throws a TypeError unless `id` is a non-empty string. */
export function assertId(method: string, id: unknown, owner = 'ExpireManager'): asserts id is string {
  if (typeof id !== 'string' || id === '') {
    throw new TypeError(`${owner}.${method}: id must be a non-empty string, got ${describe(id)}`);
  }
}

/**
 * When an entity expires, as every API takes it: an absolute time on the
 * clock (epoch ms on the real clock), a `Date`, or `{ ttlMs }` from the clock's now.
 */
export type Deadline = number | Date | { ttlMs: number };

/** A {@link Deadline} read: absolute (`at`), or a TTL from the clock's now. */
export type ParsedDeadline = { at: number; ttlMs?: undefined } | { at?: undefined; ttlMs: number };

/** Below this, a deadline on the real clock is a TTL by mistake: it would be before September 2001. */
export const EARLIEST_REAL_DEADLINE = 1e12;

/**
 * Reads a {@link Deadline}: absolute (`at`) or relative to the clock's now
 * (`ttlMs`), for the caller to add to whichever clock it runs on. One wording
 * for every API: `where` names the argument (`ExpireManager.new: expiresAt`).
 *
 * @param realTime the clock is real time (epoch ms): a number below 1e12 is a TTL by mistake.
 * @param finite Infinity is refused too (a database stores finite times only).
 * @throws TypeError for NaN, an invalid Date, a TTL passed as a deadline, or a bad `ttlMs`.
 */
export function parseDeadline(
  where: string,
  value: unknown,
  { realTime, finite = false }: { realTime: boolean; finite?: boolean },
): ParsedDeadline {
  const fail = (): never => {
    throw new TypeError(
      `${where} must be a number of milliseconds, a valid Date, or { ttlMs } (a finite number ≥ 0), got ${
        value instanceof Date ? 'an invalid Date' : describe(value)
      }`,
    );
  };
  if (typeof value === 'number' || value instanceof Date) {
    const at = value instanceof Date ? value.getTime() : value;
    if (Number.isNaN(at) || (finite && !Number.isFinite(at))) fail();
    if (realTime && at < EARLIEST_REAL_DEADLINE) {
      throw new TypeError(
        `${where} ${at} is not a deadline on the real clock (epoch ms); deadlines are absolute: pass Date.now() + ttl, or { ttlMs }`,
      );
    }
    return { at };
  }
  if (value !== null && typeof value === 'object' && 'ttlMs' in value) {
    const { ttlMs } = value as { ttlMs: unknown };
    if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < 0) fail();
    return { ttlMs: ttlMs as number };
  }
  return fail();
}

/** Throws a TypeError unless `close` is a function. */
export function assertClose(close: unknown): asserts close is CloseFn {
  if (typeof close !== 'function') {
    throw new TypeError(`ExpireManager.new: close must be a function, got ${describe(close)}`);
  }
}

/** Throws a TypeError unless `executor` is absent or has an `asyncExec` method. */
export function assertExecutor(executor: unknown): asserts executor is Executor | undefined {
  if (executor !== undefined && typeof (executor as Partial<Executor> | null)?.asyncExec !== 'function') {
    throw new TypeError('ExpireManager.new: options.executor must have an asyncExec(task) method');
  }
}

/** Throws a TypeError unless `clock` has `now`, `setTimeout` and `clearTimeout` methods. */
export function assertClock(clock: unknown): asserts clock is ExpireClock {
  const c = clock as Partial<ExpireClock> | null;
  for (const method of ['now', 'setTimeout', 'clearTimeout'] as const) {
    if (typeof c?.[method] !== 'function') {
      throw new TypeError(`createExpireManager: options.clock must have a ${method}() method`);
    }
  }
}

/** Throws a TypeError unless `value` is absent or a function. */
export function assertOptionalFunction(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new TypeError(`createExpireManager: options.${name} must be a function, got ${describe(value)}`);
  }
}

/** Throws a TypeError unless `signal` is absent or an AbortSignal. */
export function assertSignal(signal: unknown): asserts signal is AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError('createExpireManager: options.signal must be an AbortSignal');
  }
}
