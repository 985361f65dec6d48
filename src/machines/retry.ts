import { describe } from '../shared/validate.js';

/** Node's timers hold a signed 32-bit delay; a longer one fires at once. */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * How a close that throws, rejects or times out is tried again.
 *
 * `attempts: 1` (the in-memory default) is Go's behaviour: the failure is
 * reported to `onCloseError` and the entity is gone. With more, each failed
 * attempt is reported and the close is queued again after an exponential
 * backoff with jitter; after the last one the entity rests in `failed` (a dead
 * letter: listed, `retry(id)` sends it back, `delete(id)` drops it, `new(id)`
 * renews it).
 */
export interface RetryPolicy {
  /** How many times the close is tried in all, at least 1. */
  attempts: number;
  /** The wait before the second attempt; each later one doubles it. Default 1 s. */
  backoffMs: number;
  /** The longest wait between two attempts. Default 60 s. */
  maxBackoffMs: number;
}

/** No retries: one attempt, reported and gone when it fails (Go's behaviour). */
export const NO_RETRY: Readonly<RetryPolicy> = Object.freeze({ attempts: 1, backoffMs: 1_000, maxBackoffMs: 60_000 });

/**
 * The wait after failed attempt `attempt` (1-based): `backoffMs · 2^(attempt−1)`,
 * at most `maxBackoffMs`, of which the upper half is jitter. The jitter is a
 * hash of the id, generation and attempt: entities that failed together spread
 * out, and a run on a simulated clock repeats exactly.
 */
export function backoffMs(policy: RetryPolicy, id: string, generation: number, attempt: number): number {
  const full = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(full / 2 + (full / 2) * unitHash(`${id}#${generation}#${attempt}`));
}

/** FNV-1a of `text`, as a number in [0, 1). */
function unitHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0) / 2 ** 32;
}

const isMs = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_DELAY;

/**
 * A retry policy from what a user gave (`undefined` for `base`), filled in
 * from `base`.
 *
 * @throws TypeError naming the field: `attempts` not an integer from 1 to
 *   1000, a wait not in 0..2^31−1 ms, or `maxBackoffMs` below `backoffMs`.
 */
export function toRetryPolicy(where: string, value: unknown, base: Readonly<RetryPolicy> = NO_RETRY): Readonly<RetryPolicy> {
  if (value === undefined) return base;
  if (value === null || typeof value !== 'object') {
    throw new TypeError(`${where}: retry must be { attempts, backoffMs?, maxBackoffMs? }, got ${describe(value)}`);
  }
  const { attempts = base.attempts, backoffMs = base.backoffMs, maxBackoffMs = Math.max(base.maxBackoffMs, backoffMs) } =
    value as Partial<RetryPolicy>;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 1_000) {
    throw new TypeError(`${where}: retry.attempts must be an integer from 1 to 1000, got ${describe(attempts)}`);
  }
  for (const [name, ms] of [['backoffMs', backoffMs], ['maxBackoffMs', maxBackoffMs]] as const) {
    if (!isMs(ms)) throw new TypeError(`${where}: retry.${name} must be a number of ms from 0 to 2^31−1, got ${describe(ms)}`);
  }
  if (maxBackoffMs < backoffMs) {
    throw new TypeError(`${where}: retry.maxBackoffMs (${maxBackoffMs}) must be at least retry.backoffMs (${backoffMs})`);
  }
  return Object.freeze({ attempts, backoffMs, maxBackoffMs });
}

/**
 * A close timeout from what a user gave: `undefined` (none) or ms from 1 to 2^31−1.
 *
 * @throws TypeError otherwise.
 */
export function toCloseTimeout(where: string, value: unknown, name = 'closeTimeoutMs'): number | undefined {
  if (value === undefined) return undefined;
  if (!isMs(value) || value < 1) {
    throw new TypeError(`${where}: ${name} must be a number of ms from 1 to 2^31−1, got ${describe(value)}`);
  }
  return value;
}
