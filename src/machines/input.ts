import { realClock } from '../shared/clock.js';
import { type Deadline, describe, parseDeadline } from '../shared/validate.js';
import type { CloseErrorHandler, CloseFn, ExpireClock, Executor } from '../types.js';
import type { ExpirationContext } from './effects.js';
import { type RetryPolicy, toCloseTimeout, toRetryPolicy } from './retry.js';

/**
 * What an expiration actor is created with. Only `id`, `deadline` and `close`
 * are required; the rest default as an app embedding the machine wants them.
 *
 * The clock is the actor's own: give it to `createActor(app, { clock })` and
 * every expiration in that actor system reads it (see {@link ExpirationInput.clock}).
 */
export interface ExpirationInput {
  /** The entity's id: a non-empty string. */
  id: string;
  /**
   * When the entity expires: an absolute time on the actor's clock (epoch ms on
   * the real clock, or a `Date`), or `{ ttlMs }` from the clock's `now()` when
   * the actor starts. On the real clock a number below 1e12 is a TTL passed by
   * mistake, and a `TypeError`.
   */
  deadline: Deadline;
  /** Called once, with a signal scoped to that close, when the entity expires. */
  close: CloseFn;
  /** Serializes the close with the entity's other work. Default: the close runs on a microtask. */
  executor?: Executor | undefined;
  /** Picks the executor when the close is queued, for an entity without `executor` (the manager's). */
  executorFor?: ((id: string) => Executor) | undefined;
  /**
   * Leave it out: the machine reads the clock of its actor (the one given to
   * `createActor`), or, on XState's default clock, which has no `now()`, real
   * time (`Date.now()`). When the actor's clock has `now()`, a different clock
   * here is a `TypeError`, so the two can never disagree. It is for pure
   * transitions (`initialTransition`, `xstate/graph`), whose actor has XState's
   * default clock.
   */
  clock?: ExpireClock | undefined;
  /** Receives a close's failure, and an executor's refusal. Default: `console.error` with the id. */
  onCloseError?: CloseErrorHandler | undefined;
  /** How a failed close is tried again. Default: once, reported and gone (Go's behaviour). */
  retry?: Partial<RetryPolicy> | undefined;
  /** How long one close attempt may run before its signal aborts with `CLOSE_TIMED_OUT`. Default: no limit. */
  closeTimeoutMs?: number | undefined;
  /**
   * How long a pause (an update between `stop` and `start`/`renew`) may last:
   * then the saved deadline resumes, as after a failed update. Default: no
   * limit (Go's behaviour). A durable manager sets its own `pauseTimeoutMs`,
   * renewed while a process running the update lives.
   */
  pauseTimeoutMs?: number | undefined;
}

const OWNER = 'expirationMachine input';

const defaultOnCloseError: CloseErrorHandler = (id, error) => {
  console.error(`xstate-expire: close of "${id}" failed:`, error);
};

const hasNow = (clock: unknown): clock is ExpireClock =>
  typeof (clock as Partial<ExpireClock> | null | undefined)?.now === 'function';

/**
 * The clock an expiration runs on. XState schedules `after` delays on the
 * actor's clock (`createActor(…, { clock })`, shared by every actor of the
 * system), so the deadline math must read the same one: one clock, given once.
 * XState's default clock has no `now()`; it runs on real time, as `Date.now()` does.
 */
function clockOf(given: unknown, actorClock: unknown): ExpireClock {
  const own = hasNow(actorClock) ? actorClock : undefined;
  if (given === undefined) return own ?? realClock;
  for (const method of ['now', 'setTimeout', 'clearTimeout'] as const) {
    if (typeof (given as Partial<ExpireClock> | null)?.[method] !== 'function') {
      throw new TypeError(`${OWNER}: clock must have a ${method}() method`);
    }
  }
  if (own !== undefined && given !== own) {
    throw new TypeError(
      `${OWNER}: clock differs from the actor's clock (createActor(…, { clock })); ` +
        'give the clock once, to createActor, and leave it out of the input',
    );
  }
  return given as ExpireClock;
}

/** The absolute deadline of `deadline` on `clock`. */
function deadlineOf(deadline: unknown, clock: ExpireClock): number {
  const { at, ttlMs } = parseDeadline(`${OWNER}: deadline`, deadline, { realTime: clock === realClock });
  return at ?? clock.now() + ttlMs!;
}

const assertOptionalFunction = (name: string, value: unknown): void => {
  if (value !== undefined && typeof value !== 'function') {
    throw new TypeError(`${OWNER}: ${name} must be a function, got ${describe(value)}`);
  }
};

/**
 * The context an expiration actor starts with, from its input and its actor's
 * clock, on the first generation.
 *
 * @throws TypeError on bad input: the actor fails with it (an invoking parent
 *   gets it as `onError`) and nothing runs.
 */
export function expirationContext(input: ExpirationInput, actorClock: unknown): ExpirationContext {
  if (input === null || typeof input !== 'object') {
    throw new TypeError(`${OWNER}: expected { id, deadline, close }, got ${describe(input)}`);
  }
  const { id, close, executor, executorFor, onCloseError } = input;
  if (typeof id !== 'string' || id === '') {
    throw new TypeError(`${OWNER}: id must be a non-empty string, got ${describe(id)}`);
  }
  if (typeof close !== 'function') throw new TypeError(`${OWNER}: close must be a function, got ${describe(close)}`);
  if (executor !== undefined && typeof (executor as Partial<Executor> | null)?.asyncExec !== 'function') {
    throw new TypeError(`${OWNER}: executor must have an asyncExec(task) method`);
  }
  assertOptionalFunction('executorFor', executorFor);
  assertOptionalFunction('onCloseError', onCloseError);
  const clock = clockOf(input.clock, actorClock);
  return {
    id,
    deadline: deadlineOf(input.deadline, clock),
    close,
    executor,
    executorFor,
    clock,
    onCloseError: onCloseError ?? defaultOnCloseError,
    generation: 0,
    retry: toRetryPolicy(OWNER, input.retry),
    closeTimeoutMs: toCloseTimeout(OWNER, input.closeTimeoutMs),
    pauseTimeoutMs: toCloseTimeout(OWNER, input.pauseTimeoutMs, 'pauseTimeoutMs'),
    attempt: 0,
    closeDeadline: Infinity,
    lastError: undefined,
  };
}
