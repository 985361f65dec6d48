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

/** The absolute deadline of `expiresAt` in clock milliseconds; a TypeError for NaN or an invalid Date. */
export function toDeadline(expiresAt: unknown): number {
  const deadline = expiresAt instanceof Date ? expiresAt.getTime() : expiresAt;
  if (typeof deadline !== 'number' || Number.isNaN(deadline)) {
    throw new TypeError(
      `ExpireManager.new: expiresAt must be a number of milliseconds or a valid Date, got ${
        expiresAt instanceof Date ? 'an invalid Date' : describe(expiresAt)
      }`,
    );
  }
  return deadline;
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
