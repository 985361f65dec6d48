import { type Actor, type ActorOptions, createActor } from 'xstate';
import type { ExpirationActorRef, LiveExpirationState } from '../machines/expiration.js';
import type { CloseErrorHandler, CloseFn, ExpireClock, Executor, ManagerStatus } from '../types.js';
import { type RetryPolicy, toCloseTimeout, toRetryPolicy } from '../machines/retry.js';
import type { ExpirationEntry, ExpireEngine } from './engine.js';
import { type DanceCalls, type DanceManager, danceCalls, danceManager } from '../shared/dance.js';
import { type ManagerLogic, type RoutedEvent, managerLogic } from './manager-logic.js';
import { TimerHeap, createTimerQueue } from './timer-heap.js';
import { ExpireTelemetry, type TelemetryOptions, assertTelemetryOptions, instrumentClose } from '../telemetry/telemetry.js';
import {
  assertClock,
  assertClose,
  assertExecutor,
  assertId,
  assertOptionalFunction,
  assertSignal,
  type Deadline,
  parseDeadline,
} from '../shared/validate.js';

/** Options of {@link createExpireManager}; every one is optional. */
export interface ExpireManagerOptions extends TelemetryOptions {
  /**
   * The clock for timers and deadlines. XState's `SimulatedClock` fits as it is.
   * Default: real time (`Date.now()`), every timer in one heap behind a single
   * unref'd native timer, so pending expirations never keep the process alive.
   */
  clock?: ExpireClock;
  /** Receives a close that threw or rejected. Default: `console.error` with the id. */
  onCloseError?: CloseErrorHandler;
  /**
   * Handed to XState's `createActor`: sees the manager, its calls, and every
   * entity as a live actor under its id (with an inspector, every entity is
   * materialized as it is created, at the cost of a live actor each).
   */
  inspect?: ActorOptions<ManagerLogic>['inspect'];
  /** Aborting it disposes the manager, like cancelling the Go manager's context. */
  signal?: AbortSignal;
  /**
   * How a close that throws, rejects or times out is tried again, for every
   * entity (`new` can override it). Default `{ attempts: 1 }`: Go's behaviour,
   * reported to `onCloseError` and gone. With more attempts, the entity waits in
   * `expired` between them (exponential backoff with jitter) and ends `failed`
   * when the last one fails: kept until `retry(id)`, `new(id)` or `delete(id)`.
   */
  retry?: Partial<RetryPolicy>;
  /**
   * How long one close attempt may run: then its signal aborts with
   * `CLOSE_TIMED_OUT`, its executor is released, and the attempt counts as
   * failed. Default: no limit.
   */
  closeTimeoutMs?: number;
  /**
   * How long a pause (`stop` until `start`, `new` or `expire`) may last: then
   * the saved deadline resumes, as if the update had failed, so an update that
   * never reports back cannot keep its entity alive for ever. Default: no limit
   * (Go's behaviour).
   */
  pauseTimeoutMs?: number;
}

/** Options of {@link ExpireManager.new}. */
export interface NewExpirationOptions {
  /**
   * Runs the close, serialized with your own work for this entity.
   * Default: a serial executor per id, owned by the manager.
   */
  executor?: Executor;
  /** This entity's retry policy, over the manager's (see {@link ExpireManagerOptions.retry}). */
  retry?: Partial<RetryPolicy>;
  /** This entity's close timeout, instead of the manager's (see {@link ExpireManagerOptions.closeTimeoutMs}). */
  closeTimeoutMs?: number;
}

const defaultOnCloseError: CloseErrorHandler = (id, error) => {
  console.error(`xstate-expire: close of "${id}" failed:`, error);
};

/** Options of {@link ExpireManager.dispose}. */
export interface DisposeOptions {
  /**
   * Close every live entity first, each once, with its signal: active and
   * expired ones now, a paused one after its running update (on its executor).
   * Resolves once every close has settled, then disposes. `new` throws
   * meanwhile. Default `false`: drop what is pending and abort running closes.
   */
  close?: boolean;
}

/** Each manager's calls on ids checked already, for its protocol (which checks its input once, at its edge). */
const unchecked = new WeakMap<ExpireManager, DanceCalls>();

/** The dance's view of `manager`: its calls without the id checks of its public methods when it is an {@link ExpireManager}. */
export const uncheckedCalls = (manager: ExpireManager): DanceManager => danceManager(manager, unchecked.get(manager));

/**
 * Expires entities on a deadline unless they are being updated: the API of Go's
 * `expire.Manager` over a manager actor whose entities are virtual actors of
 * the expiration statechart.
 *
 * Every method is a route by id to an entity, or a read; the behaviour lives
 * in the statechart, compiled to the table that drives the entities at rest.
 */
export class ExpireManager implements AsyncDisposable {
  readonly #actor: Actor<ManagerLogic>;
  readonly #engine: ExpireEngine;
  readonly #signal: AbortSignal | undefined;
  /** Calls go through the manager actor, so that an inspector sees them. */
  readonly #inspected: boolean;
  /** A TTL passed as a deadline is caught on the real clock only. */
  readonly #realClock: boolean;
  readonly #onCloseError: CloseErrorHandler;
  readonly #onAbort = (): void => void this.dispose();
  /** Metrics and traces (OpenTelemetry); a no-op until an SDK is registered. */
  readonly #telemetry: ExpireTelemetry;
  readonly #unobserve: () => void;
  readonly #retry: Readonly<RetryPolicy>;
  readonly #closeTimeoutMs: number | undefined;
  /** Where the manager is in its life; see {@link ExpireManager.status}. */
  #status: ManagerStatus = 'running';
  #disposal: Promise<void> | undefined;
  #draining: Promise<void> | undefined;

  /** Prefer {@link createExpireManager}, which validates the options. */
  constructor(options: ExpireManagerOptions = {}) {
    const base = options.clock;
    const clock = base === undefined ? createTimerQueue() : base instanceof TimerHeap ? base : new TimerHeap(base);
    this.#realClock = base === undefined;
    this.#inspected = options.inspect !== undefined;
    this.#onCloseError = options.onCloseError ?? defaultOnCloseError;
    this.#retry = toRetryPolicy('createExpireManager', options.retry);
    this.#closeTimeoutMs = toCloseTimeout('createExpireManager', options.closeTimeoutMs);
    this.#actor = createActor(managerLogic, {
      clock,
      inspect: options.inspect,
      input: {
        clock,
        onCloseError: this.#onCloseError,
        materializeAll: this.#inspected,
        pauseTimeoutMs: toCloseTimeout('createExpireManager', options.pauseTimeoutMs, 'pauseTimeoutMs'),
      },
    });
    this.#actor.start();
    this.#engine = this.#actor.getSnapshot().context.engine;
    // Telemetry: instruments resolved once; the gauge counts the entities only when collected.
    this.#telemetry = new ExpireTelemetry(options);
    this.#unobserve = this.#telemetry.observeEntities(() => this.#engine.countByState());
    this.#signal = options.signal;
    unchecked.set(
      this,
      danceCalls((call, id) => this.#route(call, id), (id) => this.#engine.has(id), () => this.disposed),
    );
    if (this.#signal?.aborted) void this.dispose();
    else
      // Stryker disable next-line ObjectLiteral,BooleanLiteral: a signal aborts once; dispose() removes it anyway
      this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** The manager actor, for embedding, inspection and `subscribe`. */
  get actor(): Actor<ManagerLogic> {
    return this.#actor;
  }

  /** Where close failures are reported: the `onCloseError` option, or the console. */
  get onCloseError(): CloseErrorHandler {
    return this.#onCloseError;
  }

  /**
   * How many live expirations there are (active, paused, or expired with the
   * close not yet started). A method, as on the durable manager.
   */
  size(): number {
    return this.#engine.size;
  }

  /** `true` once {@link ExpireManager.dispose} has been called (or the signal aborted). */
  get disposed(): boolean {
    return this.#status !== 'running';
  }

  /**
   * Where the manager is in its life: `running`; `draining` during
   * `dispose({ close: true })` (only updates of live ids are taken, and close
   * at once); `disposed` once disposal began (calls are refused).
   */
  get status(): ManagerStatus {
    return this.#status;
  }

  /**
   * Creates or replaces the expiration for `id` (Go: `New`). At `expiresAt` the
   * close is queued on the executor and, unless replaced or deleted by then, run once.
   *
   * @param expiresAt absolute time on the manager's clock (epoch ms on the real clock: `Date.now() + ttl`),
   *   a Date, or `{ ttlMs }` from the clock's now.
   * @throws TypeError on bad input, or when the manager is disposed or disposing; nothing changes then.
   */
  new(id: string, expiresAt: Deadline, close: CloseFn, options: NewExpirationOptions = {}): void {
    assertId('new', id);
    const at = parseDeadline('ExpireManager.new: expiresAt', expiresAt, { realTime: this.#realClock });
    assertClose(close);
    // options?.: JavaScript callers may pass null for no options.
    assertExecutor(options?.executor);
    const retry = toRetryPolicy('ExpireManager.new: options', options?.retry, this.#retry);
    const closeTimeoutMs =
      options?.closeTimeoutMs === undefined ? this.#closeTimeoutMs : toCloseTimeout('ExpireManager.new: options', options.closeTimeoutMs);
    // While everything closes, only an update of a live entity is taken: it
    // replaces the entity and closes at once, so the renewal is not leaked.
    const closing = this.#status === 'draining';
    if (this.#status === 'disposed' || (closing && !this.#engine.has(id))) {
      throw new TypeError(`ExpireManager.new: the manager is ${closing ? 'closing' : 'disposed'} (id "${id}")`);
    }
    const executor = options?.executor;
    const deadline = at.at ?? this.#engine.now() + at.ttlMs!;
    // Telemetry: with an SDK, the close runs in its span and is measured (no wrapper otherwise).
    const instrumented = this.#telemetry.enabled
      ? instrumentClose(this.#telemetry, id, deadline, () => this.#engine.now(), close)
      : undefined;
    if (instrumented) close = instrumented.close;
    // Stryker disable next-line ConditionalExpression: through the actor is the same engine.new call
    if (this.#inspected) this.#actor.send({ type: 'new', id, deadline, close, executor, retry, closeTimeoutMs });
    else this.#engine.new(id, deadline, close, { executor, retry, closeTimeoutMs });
    if (instrumented) instrumented.generation = this.#engine.generation(id);
    if (closing) this.#engine.route('shutdown', id);
  }

  /**
   * Pauses the expiration for `id`, keeping its deadline, while an update runs (Go: `Stop`).
   *
   * @returns whether an expiration exists for `id`, also when its close is queued but not started.
   */
  stop(id: string): boolean {
    assertId('stop', id);
    return this.#route('stop', id);
  }

  /** Resumes a paused expiration with the same deadline (Go: `Start`); a passed deadline expires on the next tick. */
  start(id: string): void {
    assertId('start', id);
    this.#route('start', id);
  }

  /** Force-expires a paused expiration now, without waiting for the clock (Go: `Expire`). */
  expire(id: string): void {
    assertId('expire', id);
    this.#route('expire', id);
  }

  /**
   * Removes the expiration for `id` without closing it (Go: `Delete`).
   *
   * @returns whether one existed.
   */
  delete(id: string): boolean {
    assertId('delete', id);
    return this.#route('delete', id);
  }

  /**
   * Sends a `failed` expiration back to closing, with a fresh round of attempts.
   *
   * @returns whether `id` was failed (anything else is left as it is).
   */
  retry(id: string): boolean {
    assertId('retry', id);
    // The statechart answers (only a failed entity takes retry), then the call goes as any other.
    return this.#engine.takes('retry', id) && this.#route('retry', id);
  }

  /** Whether a live expiration exists for `id`. */
  has(id: string): boolean {
    assertId('has', id);
    return this.#engine.has(id);
  }

  /** The top-level state of the live expiration for `id`, or `undefined` when there is none. */
  state(id: string): LiveExpirationState | undefined {
    assertId('state', id);
    return this.#engine.state(id);
  }

  /** The live expiration `id`: its state, deadline and generation; `undefined` when there is none. */
  get(id: string): ExpirationEntry | undefined {
    assertId('get', id);
    return this.#engine.entry(id);
  }

  /**
   * Every live expiration, as `[id, entry]`, in the order they were created.
   * The ids are taken when iteration starts; each entry is read as it is
   * reached, and one that ended meanwhile is skipped.
   */
  entries(): IterableIterator<[string, ExpirationEntry]> {
    return this.#engine.entries();
  }

  /**
   * A live XState actor of the entity `id`, or `undefined` when it has no live
   * expiration. The first call materializes it from its current state, with
   * its pending deadline; later calls return the same actor, and from then on
   * its events go through it, so `subscribe`, `getSnapshot` and inspection see
   * every step until it closes or is deleted. It is a child of {@link ExpireManager.actor}.
   * Send it nothing yourself: call the manager.
   */
  actorOf(id: string): ExpirationActorRef | undefined {
    assertId('actorOf', id);
    return this.#engine.actorOf(id);
  }

  /**
   * Ends the manager. By default (Go's cancelled context): deletes every
   * expiration, aborts the signal of every running close and clears every
   * timer. With `{ close: true }`: first closes every live entity once (see
   * {@link DisposeOptions.close}). Every call resolves once every close that
   * was running has settled; a plain call during `{ close: true }` stops
   * waiting for the closes not yet started and aborts the running ones.
   */
  dispose(options: DisposeOptions = {}): Promise<void> {
    // From now on the signal ends nothing: aborting it during { close: true } must not abort the closes.
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (
      options?.close === true &&
      // Stryker disable next-line ConditionalExpression: after dispose, closing all returns that disposal
      this.#status !== 'disposed'
    ) {
      if (this.#draining === undefined) {
        this.#status = 'draining';
        this.#draining = this.#engine.shutdown().then(() => this.#disposeNow());
      }
      return this.#draining;
    }
    return this.#disposeNow();
  }

  /** `await using manager = createExpireManager()` disposes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  #disposeNow(): Promise<void> {
    if (this.#disposal === undefined) {
      this.#status = 'disposed';
      this.#disposal = this.#engine.dispose();
      this.#unobserve();
      this.#actor.send({ type: 'dispose' });
    }
    return this.#disposal;
  }

  /** Routes a call by id; reports whether the id had a live expiration before the call. */
  /** A routed call, on an id checked already. */
  #route(type: RoutedEvent['type'], id: string): boolean {
    // Stryker disable next-line ConditionalExpression: a disposed engine answers false too
    if (this.#status === 'disposed') return false;
    // Stryker disable next-line ConditionalExpression: through the actor is the same engine.route
    if (!this.#inspected) return this.#engine.route(type, id);
    if (!this.#engine.has(id)) return false;
    this.#actor.send({ type, id });
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
  assertTelemetryOptions('createExpireManager', options);
  toRetryPolicy('createExpireManager', options.retry);
  toCloseTimeout('createExpireManager', options.closeTimeoutMs);
  toCloseTimeout('createExpireManager', options.pauseTimeoutMs, 'pauseTimeoutMs');
  if (options.inspect !== undefined && typeof options.inspect !== 'function' && typeof options.inspect !== 'object') {
    throw new TypeError('createExpireManager: options.inspect must be an observer or a function');
  }
  return new ExpireManager(options);
}
