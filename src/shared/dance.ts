import type { Executor } from '../types.js';
import { SerialExecutor } from './serial-executor.js';

/**
 * The update/close dance of the Go package's users, written once for every
 * manager: the in-memory one (whose calls return at once) and the durable one
 * (whose calls are transactions). `await` takes both.
 */
export interface DanceManager {
  readonly disposed: boolean;
  stop(id: string): boolean | Promise<boolean>;
  start(id: string): unknown;
  expire(id: string): unknown;
  delete(id: string): unknown;
  has(id: string): boolean | Promise<boolean>;
}

/** A manager's dance calls on ids its caller has checked, with `disposed` read when asked. */
export type DanceCalls = Omit<DanceManager, 'disposed'> & { disposed(): boolean };

/**
 * Dance calls from a manager's own: its route by id (ids checked already),
 * its `has` and its `disposed`.
 */
export const danceCalls = (
  route: (call: 'stop' | 'start' | 'expire' | 'delete', id: string) => boolean | Promise<boolean>,
  has: (id: string) => boolean | Promise<boolean>,
  disposed: () => boolean,
): DanceCalls => ({
  disposed,
  stop: (id) => route('stop', id),
  start: (id) => route('start', id),
  expire: (id) => route('expire', id),
  delete: (id) => route('delete', id),
  has,
});

/**
 * The dance's view of `manager`: its unchecked `calls` when it has them (a
 * protocol checks each id once, at its own edge), else its public methods.
 */
export function danceManager(manager: DanceManager, calls: DanceCalls | undefined): DanceManager {
  if (calls === undefined) return manager;
  return {
    get disposed() {
      return calls.disposed();
    },
    stop: calls.stop,
    start: calls.start,
    expire: calls.expire,
    delete: calls.delete,
    has: calls.has,
  };
}

/** How one protocol arms and validates its renewals. */
export interface DanceSteps<R extends { id?: string }> {
  /** The protocol's name, for errors. */
  owner: string;
  manager: DanceManager;
  /** Throws a TypeError naming the field, unless `renewal` is well formed. */
  check(renewal: unknown): asserts renewal is R;
  /** Arms the renewal's expiration under `id` (the manager's `new`). */
  arm(id: string, renewal: R): unknown;
  /** Closes, once, a renewal the manager could not take; nothing when it has no usable close. */
  closeUnarmed(id: string, renewal: unknown): Promise<void>;
}

/**
 * Stop → update → Start on failure → New (retiring the old id when it changed).
 * When arming fails after the update succeeded, nothing it opened is left
 * without a close: the live expiration is force-expired (R2), and the renewal
 * is closed when nothing live will close it (none was live, or it is for
 * another id). Run it on the id's executor.
 */
export async function updateDance<T, R extends { value: T; id?: string }>(
  steps: DanceSteps<R>,
  id: string,
  update: () => R | Promise<R>,
): Promise<T> {
  const { manager } = steps;
  if (manager.disposed) throw disposedError(steps.owner, id);
  await manager.stop(id);
  let renewal: R;
  try {
    renewal = await update();
  } catch (error) {
    await manager.start(id);
    throw error;
  }
  let next = id;
  try {
    steps.check(renewal);
    next = renewal.id ?? id;
    await steps.arm(next, renewal);
  } catch (error) {
    const live = await manager.has(id);
    // Stryker disable next-line ConditionalExpression: expire() of nothing live is a no-op
    if (live) await manager.expire(id);
    if (!live || next !== id) await steps.closeUnarmed(next, renewal);
    throw error;
  }
  if (next !== id) await manager.delete(id);
  return renewal.value;
}

/** Stop → close → Start on failure → Delete; `false` (and `close` not called) when nothing is live. */
export async function closeDance(manager: DanceManager, id: string, close: () => unknown): Promise<boolean> {
  if (!(await manager.stop(id))) return false;
  try {
    await close();
  } catch (error) {
    await manager.start(id);
    throw error;
  }
  await manager.delete(id);
  return true;
}

/** Stop → Expire: an error after a successful update closes gracefully (R2). */
export async function failDance(manager: DanceManager, id: string): Promise<boolean> {
  const existed = await manager.stop(id);
  await manager.expire(id);
  return existed;
}

/** The error of an update refused because the manager is disposed. */
export const disposedError = (owner: string, id: string): TypeError =>
  new TypeError(`${owner}.update: the manager is disposed; "${id}" was not updated`);

/**
 * A serial executor per id, made on demand and forgotten when idle and
 * `keep(id)` is false, so that short-lived ids do not accumulate.
 */
export class IdExecutors {
  readonly #executors = new Map<string, Executor>();

  /** @param keep whether an idle id's executor is still needed (its expiration closes on it). */
  constructor(readonly keep: (id: string) => boolean) {}

  /** How many ids hold an executor now. */
  get size(): number {
    return this.#executors.size;
  }

  /** The executor of `id`. */
  of(id: string): Executor {
    let executor = this.#executors.get(id);
    if (!executor) {
      const serial = new SerialExecutor();
      executor = {
        asyncExec: async (task) => {
          try {
            await serial.asyncExec(task);
          } finally {
            if (serial.pending === 0 && !this.keep(id)) this.#executors.delete(id);
          }
        },
      };
      this.#executors.set(id, executor);
    }
    return executor;
  }

  /** Runs `task` on the executor of `id`, after everything queued there before; resolves with its result. */
  run<T>(id: string, task: () => T | Promise<T>): Promise<T> {
    let result!: T;
    return this.of(id)
      .asyncExec(async () => {
        result = await task();
      })
      .then(() => result);
  }
}
