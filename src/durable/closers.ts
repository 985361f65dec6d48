import { type RetryPolicy, toCloseTimeout, toRetryPolicy } from '../machines/retry.js';
import type { ClosePolicy } from './engine.js';

/** What a closer is called with: which entity, its data, and its generation. */
export interface ClosingEntity {
  id: string;
  /** The `data` it was armed with (JSON). */
  data: unknown;
  /**
   * Unique per id and incarnation (a renewal makes a new one): make the close
   * idempotent on `(id, generation)` and its effect happens exactly once.
   */
  generation: number;
  /** The deadline it expired at, in ms on the database's clock. */
  deadline: number;
  /** Which attempt this is: 1, then one more on each retry. */
  attempt: number;
}

/**
 * Closes an expired entity. Named in `closers`, because a close must survive a
 * restart: a function value would not.
 *
 * `signal` is scoped to this attempt: it aborts when the close settles, when
 * the attempt times out (`CLOSE_TIMED_OUT`), when another process took the
 * close over (`CLAIM_LOST`), or when the manager is disposed while it runs.
 */
export type Closer = (entity: ClosingEntity, signal: AbortSignal) => unknown;

/** A closer with its retry policy and close timeout. */
export interface CloserOptions {
  close: Closer;
  /**
   * How a close that throws, rejects or times out is tried again. Default
   * 5 attempts, backoff from 1 s doubling to 60 s with
   * jitter; after the last, the entity is kept as `failed`. `{ attempts: 1 }`:
   * reported and gone.
   */
  retry?: Partial<RetryPolicy>;
  /**
   * How long one attempt may run: then its signal aborts with `CLOSE_TIMED_OUT`,
   * its claim and its concurrency slot are released at once, and it counts as
   * failed. Default 5 minutes.
   */
  closeTimeoutMs?: number;
}

/** The retry policy of a durable closer given as a bare function. */
export const DURABLE_RETRY: Readonly<RetryPolicy> = Object.freeze({ attempts: 5, backoffMs: 1_000, maxBackoffMs: 60_000 });

/** The close timeout of a durable closer that names none: 5 minutes. */
export const DURABLE_CLOSE_TIMEOUT_MS = 5 * 60_000;

/** The policy of a closer given as a bare function, and of one this process lacks. */
export const DEFAULT_CLOSE_POLICY: ClosePolicy = Object.freeze({
  retry: DURABLE_RETRY,
  closeTimeoutMs: DURABLE_CLOSE_TIMEOUT_MS,
});

/** A closer, validated, with its policy. */
export interface NamedCloser extends ClosePolicy {
  close: Closer;
}

/**
 * The closers option, validated: each a function or `{ close, retry?, closeTimeoutMs? }`.
 *
 * @throws TypeError naming the closer and the field.
 */
export function toClosers(owner: string, closers: unknown): Map<string, NamedCloser> {
  if (closers === null || typeof closers !== 'object' || Object.keys(closers).length === 0) {
    throw new TypeError(`${owner}: closers must name at least one closer: { lease: (entity, signal) => … }`);
  }
  const result = new Map<string, NamedCloser>();
  for (const [name, spec] of Object.entries(closers)) {
    if (typeof spec === 'function') {
      result.set(name, { close: spec as Closer, ...DEFAULT_CLOSE_POLICY });
      continue;
    }
    const options = spec as Partial<CloserOptions> | null;
    if (typeof options?.close !== 'function') {
      throw new TypeError(`${owner}: closers.${name} must be a function or { close, retry?, closeTimeoutMs? }`);
    }
    const where = `${owner}: closers.${name}`;
    result.set(name, {
      close: options.close,
      retry: toRetryPolicy(where, options.retry, DURABLE_RETRY),
      closeTimeoutMs: options.closeTimeoutMs === undefined ? DURABLE_CLOSE_TIMEOUT_MS : toCloseTimeout(where, options.closeTimeoutMs),
    });
  }
  return result;
}
