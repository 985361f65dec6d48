/**
 * The clock an expire manager runs on: XState's timer interface plus `now()`.
 *
 * One clock drives both the delayed transitions and the deadline math, so a
 * test that advances it sees exactly what production would. XState's
 * `SimulatedClock` fits as it is.
 */
export interface ExpireClock {
  /** Current time in milliseconds, on the same scale as the deadlines passed to `new`. */
  now(): number;
  /** Schedules `fn` after `ms` milliseconds and returns a handle for {@link ExpireClock.clearTimeout}. */
  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown;
  /** Cancels a timer scheduled by {@link ExpireClock.setTimeout}. */
  clearTimeout(handle: unknown): void;
}

/**
 * Runs tasks on behalf of one entity, like Go's `serialize.Executor`.
 *
 * Closes are queued through the entity's executor, so they never interleave
 * with the entity's own serialized work (its updates and explicit closes).
 */
export interface Executor {
  /** Queues `task`; the returned promise settles once the task has finished. */
  asyncExec(task: () => unknown): Promise<void>;
}

/**
 * Closes an expired entity.
 *
 * `signal` is scoped to this one close: it aborts when the close settles and
 * when the manager is disposed while the close runs (requirement 3). A returned
 * promise is awaited; its value is ignored.
 */
export type CloseFn = (signal: AbortSignal) => void | PromiseLike<unknown> | unknown;

/** Receives the error of a close that threw or rejected, with the entity's id. */
export type CloseErrorHandler = (id: string, error: unknown) => void;

/**
 * Where a manager is in its life: `running`; `draining` during
 * `dispose({ close: true })`; `disposed` once disposal began (calls are refused).
 */
export type ManagerStatus = 'running' | 'draining' | 'disposed';
