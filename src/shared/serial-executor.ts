import type { Executor } from '../types.js';

/**
 * An {@link Executor} that runs tasks one at a time, in the order they were queued.
 *
 * Each task starts on a later microtask, never inside `asyncExec` itself, so a
 * caller can queue work from within a state transition. A task that throws or
 * rejects rejects its own promise and does not break the queue.
 *
 * @example
 * ```ts
 * const executor = new SerialExecutor();
 * await executor.asyncExec(() => refresh(id)); // waits for earlier tasks first
 * ```
 */
export class SerialExecutor implements Executor {
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;

  /** How many tasks are queued or running. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Queues `task` behind every task queued before it.
   *
   * @returns a promise for the task's result; it rejects with the task's error.
   * @throws TypeError when `task` is not a function.
   */
  asyncExec<T>(task: () => T | PromiseLike<T>): Promise<T>;
  asyncExec(task: () => unknown): Promise<void>;
  asyncExec<T>(task: () => T | PromiseLike<T>): Promise<T> {
    if (typeof task !== 'function') {
      throw new TypeError(`SerialExecutor.asyncExec: task must be a function, got ${typeof task}`);
    }
    this.#pending++;
    let finished!: () => void;
    const previous = this.#tail;
    // The queue waits for the task but must not handle its failure: a rejection
    // nobody awaits stays visible as an unhandled rejection.
    this.#tail = new Promise<void>((resolve) => (finished = resolve));
    return previous.then(async () => {
      try {
        return await task();
      } finally {
        this.#pending--;
        finished();
      }
    });
  }
}
