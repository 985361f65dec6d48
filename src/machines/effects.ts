import type { AnyActorRef } from 'xstate';
import type { CloseErrorHandler, CloseFn, ExpireClock, Executor } from '../types.js';
import type { RetryPolicy } from './retry.js';

/**
 * The context of an expiration: what it was created with, and which renewal it
 * is on. Only a renewal (`new` for a live id) changes the deadline.
 *
 * `Close` is what the entity closes with: a function in memory; a durable
 * manager's row holds its closer's name and data instead.
 */
export interface ExpirationContext<Close = CloseFn> {
  /** The entity's id, as the manager knows it. */
  id: string;
  /** Absolute time on `clock` at which the entity expires. */
  deadline: number;
  /** Called once, with a signal scoped to that close, when the entity expires. */
  close: Close;
  /** Serializes the close with the entity's other work. */
  executor?: Executor | undefined;
  /**
   * Picks the executor when the close is queued, for an entity created without
   * one (the manager's per-id serial executors). With neither, the close is
   * queued on a microtask.
   */
  executorFor?: ((id: string) => Executor) | undefined;
  /** The clock of the timers; `now()` drives the deadline math. */
  clock: ExpireClock;
  /** Receives a close's failure, and an executor's refusal to run the close. */
  onCloseError: CloseErrorHandler;
  /** Counts renewals, so that a close queued before one is told apart as stale. */
  generation: number;
  /** How a failed close is tried again (one attempt, Go's behaviour, unless asked). */
  retry: Readonly<RetryPolicy>;
  /** How long one close attempt may run; `undefined` for no limit. */
  closeTimeoutMs: number | undefined;
  /** How long a pause may last before the saved deadline resumes; `undefined` for no limit. */
  pauseTimeoutMs: number | undefined;
  /** Close attempts started since the entity expired (or was retried by hand). */
  attempt: number;
  /** When the running attempt times out, on `clock` (`Infinity` without a timeout). */
  closeDeadline: number;
  /** The message of the last failed attempt's error, while retrying or failed. */
  lastError: string | undefined;
}

/**
 * The executor has started the close task: the entity may close now.
 * `settle` ends that task; `settled` is the promise it resolves.
 */
export interface CloseEvent {
  type: 'close';
  /** Ends the executor task; called when the close settles. */
  settle: () => void;
  /** Settles when `settle` is called. */
  settled: Promise<void>;
}

/** The executor refused to run the close of `generation`: the entity is dropped. */
export interface RefusedEvent {
  type: 'refused';
  /** The generation whose close was refused; a refusal for an older one is stale. */
  generation: number;
}

/** The close threw, rejected or timed out: the attempt failed. */
export interface FailedEvent {
  type: 'failed';
  /** What it threw or rejected with, or {@link CLOSE_TIMED_OUT}. */
  error: unknown;
}

/** The events the effects send back to their entity. */
export type EffectEvent = CloseEvent | RefusedEvent | FailedEvent | { type: 'settled' } | { type: 'superseded' };

/**
 * What the close effects act on: an entity, whether it rests as a record of the
 * manager's engine or runs as a live XState actor. One implementation of each
 * effect serves both, so the two engines cannot drift apart.
 */
export interface EffectTarget {
  /** The entity's current context. */
  readonly context: ExpirationContext;
  /** Delivers an event to the entity (later, if it is in the middle of a step). */
  send(event: EffectEvent): void;
  /** Whether the entity has neither ended nor been renewed since `generation`. */
  isCurrent(generation: number): boolean;
  /** The signal scope of the running close, while one runs. */
  scope: AbortController | undefined;
  /** Tells whoever holds the entity that its close starts now; `settled` settles with it. */
  notifyClosing(settled: Promise<void>): void;
  /**
   * Tells whoever holds the entity that its close failed and it is theirs
   * again (to retry, or to keep as failed); when its id was taken meanwhile by
   * a new entity, they send it `superseded` instead.
   */
  rejoin(): void;
}

/** Why a close signal aborted: the close itself settled. Compare `signal.reason` with it. */
export const CLOSE_SETTLED: Error = Object.freeze(
  Object.assign(new Error('xstate-expire: the close has settled'), { name: 'CloseSettled' }),
);
/** Why a close signal aborted: the attempt ran longer than its `closeTimeoutMs` (it counts as failed). */
export const CLOSE_TIMED_OUT: Error = Object.freeze(
  Object.assign(new Error('xstate-expire: the close ran longer than its closeTimeoutMs'), { name: 'CloseTimedOut' }),
);
/** Why a close signal aborted: the manager was disposed while the close ran. */
export const MANAGER_DISPOSED: Error = Object.freeze(
  Object.assign(new Error('xstate-expire: the manager was disposed while closing'), { name: 'ManagerDisposed' }),
);
/**
 * Why a close signal aborted: the expiration actor was stopped while the close
 * ran (its parent left the state that invokes it, or the actor system stopped).
 */
export const ACTOR_STOPPED: Error = Object.freeze(
  Object.assign(new Error('xstate-expire: the expiration actor was stopped while closing'), { name: 'ActorStopped' }),
);

/** Reports without ever throwing into the engine: a throwing handler falls back to the console. */
export function report(context: Pick<ExpirationContext, 'id' | 'onCloseError'>, error: unknown): void {
  try {
    context.onCloseError(context.id, error);
  } catch (handlerError) {
    console.error(`xstate-expire: onCloseError threw while reporting "${context.id}":`, handlerError, error);
  }
}

/** Runs a task on the next microtask: for an expiration embedded without an executor. */
const microtaskExecutor: Executor = { asyncExec: async (task) => void (await task()) };

const SETTLED_EVENT: EffectEvent = Object.freeze({ type: 'settled' });

/** The executor task of each running close: a timed-out attempt ends it at once. */
const releases = new WeakMap<AbortController, () => void>();

/**
 * Queues the close on the entity's executor. When the task runs, an entity
 * that has ended or been renewed since is not closed (Go: `tt != t`): the task
 * returns at once. Otherwise it sends `close` and holds the executor until the
 * close settles. An executor that refuses the task (throws or rejects) is
 * reported, and the entity is told (`refused`).
 */
export function queueClose(target: EffectTarget): void {
  const context = target.context;
  const { generation } = context;
  const task = (): Promise<void> | undefined => {
    if (!target.isCurrent(generation)) return undefined;
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    target.send({ type: 'close', settle, settled });
    return settled;
  };
  const refused = (error: unknown): void => {
    report(context, error);
    target.send({ type: 'refused', generation });
  };
  let queued: unknown;
  try {
    const executor = context.executor ?? context.executorFor?.(context.id) ?? microtaskExecutor;
    queued = executor.asyncExec(task);
  } catch (error) {
    return refused(error);
  }
  // An executor may return anything. A promise or thenable of any library that
  // rejects, or whose then() throws, is a refusal: adopted as a native promise,
  // a throw in then() is a rejection too, not an error thrown into the step.
  Promise.resolve(queued).then(undefined, refused);
}

/**
 * Runs the user's close with a signal scoped to it (R3), on the next
 * microtask: after the holder has been told (`notifyClosing`), so the entity
 * has left the manager when the close is called. The signal aborts when the
 * close settles (then `settled`, or `failed` when it threw or rejected, ends
 * the attempt), or earlier on dispose or timeout. A failure is reported, never
 * thrown, also when it comes after a timeout; the executor task always ends.
 */
export function runClose(target: EffectTarget, event: CloseEvent): void {
  const context = target.context;
  const scope = new AbortController();
  target.scope = scope;
  releases.set(scope, event.settle);
  void (async () => {
    let outcome: EffectEvent = SETTLED_EVENT;
    try {
      await Promise.resolve();
      await context.close(scope.signal);
    } catch (error) {
      report(context, error);
      outcome = { type: 'failed', error };
    } finally {
      scope.abort(CLOSE_SETTLED);
      event.settle();
      // A timed-out attempt was ended already: what it does later changes nothing.
      if (target.scope === scope) {
        target.scope = undefined;
        target.send(outcome);
      }
    }
  })();
}

/**
 * The running attempt timed out: its signal aborts with {@link CLOSE_TIMED_OUT},
 * its executor task ends at once (the entity's other work is not held behind a
 * close that never settles), the timeout is reported, and the attempt fails.
 */
export function timeoutClose(target: EffectTarget): void {
  const scope = target.scope;
  // Stryker disable next-line ConditionalExpression: closing always has a scope (see abortClose)
  if (scope === undefined) return;
  target.scope = undefined;
  scope.abort(CLOSE_TIMED_OUT);
  releases.get(scope)?.();
  report(target.context, CLOSE_TIMED_OUT);
  target.send({ type: 'failed', error: CLOSE_TIMED_OUT });
}

/** The close failed: the entity goes back to its holder, to retry or to keep (see {@link EffectTarget.rejoin}). */
export function rejoin(target: EffectTarget): void {
  target.rejoin();
}

/** Aborts the running close's signal: the manager is disposed while it runs. */
export function abortClose(target: EffectTarget): void {
  // Stryker disable next-line OptionalChaining: closing always has a scope
  target.scope?.abort(MANAGER_DISPOSED);
}

/** Tells the holder that the close starts, with the promise that settles with it. */
export function notifyClosing(target: EffectTarget, event: CloseEvent): void {
  target.notifyClosing(event.settled);
}

/**
 * The notices an expiration actor sends its parent: its close starts
 * (`settled` settles with it), or a failed close hands it back (to retry, or
 * to keep as failed; a parent whose id was taken meanwhile sends it `superseded`).
 */
export type ExpirationNotice =
  | { type: 'expiration.closing'; id: string; ref: AnyActorRef; settled: Promise<void> }
  | { type: 'expiration.rejoined'; id: string; ref: AnyActorRef };

/** The signal scopes of closes run by live actors (a record keeps its own). */
export const actorScopes = new WeakMap<AnyActorRef, AbortController>();

/**
 * Aborts `scope` when the actor stops while its close runs. XState runs no exit
 * action on stop; it calls its observers' `complete` (in 5.27 as in 5.33), and
 * the actor's status becomes `stopped`. A close that settles, or a dispose,
 * aborts the scope first: the observer goes with it, so `complete` on the final
 * state that follows finds nothing to do. No `error` listener: it would mark an
 * actor's error as handled.
 */
function abortWhenStopped(self: AnyActorRef, scope: AbortController): void {
  const subscription = self.subscribe({ complete: () => scope.abort(ACTOR_STOPPED) });
  scope.signal.addEventListener('abort', () => subscription.unsubscribe(), { once: true });
}

/**
 * An expiration actor as an {@link EffectTarget}. `context` is the one the
 * action was resolved with: the actor's snapshot is committed only after its step.
 */
export function actorTarget(self: AnyActorRef, context: ExpirationContext): EffectTarget {
  return {
    context,
    send: (event) => {
      // Ended meanwhile (disposed, stopped): it takes no more events.
      if (self.getSnapshot().status === 'active') self.send(event);
    },
    isCurrent: (generation) => {
      const now = self.getSnapshot();
      return now.status === 'active' && now.context.generation === generation;
    },
    get scope() {
      return actorScopes.get(self);
    },
    set scope(scope) {
      // Stryker disable next-line ConditionalExpression: a WeakMap reads undefined either way
      if (scope) actorScopes.set(self, scope);
      else actorScopes.delete(self);
      if (scope) abortWhenStopped(self, scope);
    },
    notifyClosing: (settled) => {
      // An expiration embedded on its own has no parent to tell.
      self._parent?.send({ type: 'expiration.closing', id: context.id, ref: self, settled } satisfies ExpirationNotice);
    },
    rejoin: () => {
      self._parent?.send({ type: 'expiration.rejoined', id: context.id, ref: self } satisfies ExpirationNotice);
    },
  };
}
