import { type Actor, type ActorOptions, createActor } from 'xstate';
import type { LiveExpirationState } from '../machines/expiration.js';
import { type ManagerEvent, type ManagerLogic, managerLogic } from './manager-logic.js';
import type { CloseErrorHandler, CloseFn, ExpireClock, Executor } from '../types.js';
import { createTimerQueue } from './timer-queue.js';
import { installScheduler } from './scheduler.js';
import {
  assertClock,
  assertClose,
  assertExecutor,
  assertId,
  assertOptionalFunction,
  assertSignal,
  toDeadline,
} from './validate.js';

/** Options of {@link createExpireManager}; every one is optional. */
export interface ExpireManagerOptions {
  /**
   * The clock for timers and deadlines. XState's `SimulatedClock` fits as it is.
   * Default: real time (`Date.now()`), every timer in one heap behind a single
   * unref'd native timer, so pending expirations never keep the process alive.
   */
  clock?: ExpireClock;
  /** Receives a close that threw or rejected. Default: `console.error` with the id. */
  onCloseError?: CloseErrorHandler;
  /** Handed to XState's `createActor`: sees the manager and every expiration actor. */
  inspect?: ActorOptions<ManagerLogic>['inspect'];
  /** Aborting it disposes the manager, like cancelling the Go manager's context. */
  signal?: AbortSignal;
}

/** Options of {@link ExpireManager.new}. */
export interface NewExpirationOptions {
  /**
   * Runs the close, serialized with your own work for this entity.
   * Default: a serial executor per id, owned by the manager.
   */
  executor?: Executor;
}

const defaultOnCloseError: CloseErrorHandler = (id, error) => {
  console.error(`xstate-expire: close of "${id}" failed:`, error);
};

/**
 * Expires entities on a deadline unless they are being updated: the API of Go's
 * `expire.Manager` over a manager actor and one statechart actor per entity.
 *
 * Every method translates into an event for the manager actor or reads a
 * snapshot; the behaviour lives in the machines.
 */
export class ExpireManager implements AsyncDisposable {
  readonly #actor: Actor<ManagerLogic>;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => void this.dispose();

  /** Prefer {@link createExpireManager}, which validates the options. */
  constructor(options: ExpireManagerOptions = {}) {
    const clock = options.clock ?? createTimerQueue();
    this.#actor = createActor(managerLogic, {
      clock,
      inspect: options.inspect,
      input: { clock, onCloseError: options.onCloseError ?? defaultOnCloseError },
    });
    installScheduler(this.#actor.system, clock);
    this.#actor.start();
    this.#signal = options.signal;
    if (this.#signal?.aborted) void this.dispose();
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** The manager actor, for embedding, inspection and `subscribe`. */
  get actor(): Actor<ManagerLogic> {
    return this.#actor;
  }

  /** How many live expirations there are (active, paused, or expired with the close not yet started). */
  get size(): number {
    return this.#context.expirations.size;
  }

  /** `true` once {@link ExpireManager.dispose} has run (or the signal aborted). */
  get disposed(): boolean {
    return this.#actor.getSnapshot().status !== 'active';
  }

  /**
   * Creates or replaces the expiration for `id` (Go: `New`). At `expiresAt` the
   * close is queued on the executor and, unless replaced or deleted by then, run once.
   *
   * @param expiresAt absolute time on the manager's clock (epoch ms on the real clock), or a Date.
   * @throws TypeError on bad input, or when the manager is disposed; nothing changes then.
   */
  new(id: string, expiresAt: number | Date, close: CloseFn, options: NewExpirationOptions = {}): void {
    assertId('new', id);
    const deadline = toDeadline(expiresAt);
    assertClose(close);
    assertExecutor(options?.executor);
    if (this.disposed) throw new TypeError(`ExpireManager.new: the manager is disposed (id "${id}")`);
    this.#send({ type: 'new', id, deadline, close, executor: options?.executor });
  }

  /**
   * Pauses the expiration for `id`, keeping its deadline, while an update runs (Go: `Stop`).
   *
   * @returns whether an expiration exists for `id`, also when its close is queued but not started.
   */
  stop(id: string): boolean {
    return this.#route('stop', id);
  }

  /** Resumes a paused expiration with the same deadline (Go: `Start`); a passed deadline expires on the next tick. */
  start(id: string): void {
    this.#route('start', id);
  }

  /** Force-expires a paused expiration now, without waiting for the clock (Go: `Expire`). */
  expire(id: string): void {
    this.#route('expire', id);
  }

  /**
   * Removes the expiration for `id` without closing it (Go: `Delete`).
   *
   * @returns whether one existed.
   */
  delete(id: string): boolean {
    return this.#route('delete', id);
  }

  /** Whether a live expiration exists for `id`. */
  has(id: string): boolean {
    assertId('has', id);
    return this.#context.expirations.has(id);
  }

  /** The top-level state of the live expiration for `id`, or `undefined` when there is none. */
  state(id: string): LiveExpirationState | undefined {
    assertId('state', id);
    const value = this.#context.expirations.get(id)?.getSnapshot().value;
    if (value === undefined) return undefined;
    return (typeof value === 'string' ? value : Object.keys(value)[0]) as LiveExpirationState;
  }

  /**
   * Deletes every expiration, aborts the signal of every running close and stops
   * every actor and timer. Resolves once the closes that were running have settled.
   * Calling it again is harmless.
   */
  async dispose(): Promise<void> {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (this.disposed) return;
    const running = [...this.#context.closing.values()];
    this.#send({ type: 'dispose' });
    await Promise.all(running);
  }

  /** `await using manager = createExpireManager()` disposes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  get #context() {
    return this.#actor.getSnapshot().context;
  }

  #send(event: ManagerEvent): void {
    this.#actor.send(event);
  }

  /** Routes a call by id; reports whether the id had a live expiration before the call. */
  #route(type: 'stop' | 'start' | 'expire' | 'delete', id: string): boolean {
    assertId(type, id);
    if (this.disposed || !this.#context.expirations.has(id)) return false;
    this.#send({ type, id });
    return true;
  }
}

/**
 * Creates an {@link ExpireManager}.
 *
 * @example
 * ```ts
 * const manager = createExpireManager();
 * manager.new(id, Date.now() + 30_000, async (signal) => backend.close(id, { signal }));
 * ```
 * @throws TypeError when an option has the wrong type.
 */
export function createExpireManager(options: ExpireManagerOptions = {}): ExpireManager {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('createExpireManager: options must be an object');
  }
  if (options.clock !== undefined) assertClock(options.clock);
  assertOptionalFunction('onCloseError', options.onCloseError);
  assertSignal(options.signal);
  if (options.inspect !== undefined && typeof options.inspect !== 'function' && typeof options.inspect !== 'object') {
    throw new TypeError('createExpireManager: options.inspect must be an observer or a function');
  }
  return new ExpireManager(options);
}
