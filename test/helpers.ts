import { type AnyActorRef, SimulatedClock } from 'xstate';
import { type ExpireClock, type ExpireManagerOptions, SerialExecutor, createExpireManager } from '../src/index.js';

/** Lets every queued microtask and promise callback run (executor tasks, closes). */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A promise with its resolvers, for closes and updates a test settles by hand. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A `SerialExecutor` kept busy until `release()`: whatever is queued on it waits behind that. */
export function heldExecutor() {
  const gate = deferred();
  const executor = new SerialExecutor();
  void executor.asyncExec(() => gate.promise);
  return { executor, release: gate.resolve };
}

/** One call of a recorded close. */
export interface CloseCall {
  id: string;
  signal: AbortSignal;
  at: number;
}

/**
 * A manager on a `SimulatedClock` that records closes and close errors, and the
 * actors it created (through the inspection API), so tests can check they stopped.
 */
export function managerOnSimulatedClock(options: ExpireManagerOptions = {}) {
  const clock = new SimulatedClock();
  const closes: CloseCall[] = [];
  const errors: Array<{ id: string; error: unknown }> = [];
  const actors: AnyActorRef[] = [];
  const manager = createExpireManager({
    clock,
    onCloseError: (id, error) => errors.push({ id, error }),
    inspect: (event) => {
      if (event.type === '@xstate.actor') actors.push(event.actorRef as AnyActorRef);
    },
    ...options,
  });
  /** A close that records its call; `result` decides how it settles. */
  const close =
    (id: string, result?: () => void | Promise<void>) =>
    (signal: AbortSignal): void | Promise<void> => {
      closes.push({ id, signal, at: clock.now() });
      return result?.();
    };
  const closesOf = (id: string) => closes.filter((call) => call.id === id);
  return { clock, manager, closes, closesOf, errors, actors, close };
}

/** Wraps a clock to count pending timers and record every delay asked for. */
export function countingClock(inner: SimulatedClock = new SimulatedClock()) {
  const pending = new Set<unknown>();
  const delays: number[] = [];
  const clock: ExpireClock = {
    now: () => inner.now(),
    setTimeout: (fn, ms) => {
      delays.push(ms);
      const handle = inner.setTimeout(() => {
        pending.delete(handle);
        fn();
      }, ms);
      pending.add(handle);
      return handle;
    },
    clearTimeout: (handle) => {
      pending.delete(handle);
      inner.clearTimeout(handle as number);
    },
  };
  return { clock, inner, pending, delays };
}
