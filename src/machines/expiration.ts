import { type ActorRefFrom, type AnyActor, type AnyActorRef, type SnapshotFrom, assign, setup } from 'xstate';
import { realClock } from '../shared/clock.js';
import type { CloseFn, ExpireClock, Executor } from '../types.js';
import {
  type CloseEvent,
  type ExpirationContext,
  type FailedEvent,
  type RefusedEvent,
  abortClose,
  actorTarget,
  notifyClosing,
  queueClose,
  rejoin,
  runClose,
  timeoutClose,
} from './effects.js';
import { type RetryPolicy, backoffMs } from './retry.js';
import { type ExpirationInput, expirationContext } from './input.js';
import { realises } from './requirements.js';

export type { CloseEvent, ExpirationContext, ExpirationNotice, FailedEvent, RefusedEvent } from './effects.js';
export type { RetryPolicy } from './retry.js';
export type { ExpirationInput } from './input.js';

/**
 * Node's timers hold a signed 32-bit delay; a longer one fires at once. Longer
 * waits are split: the delayed transition re-arms until the deadline is reached.
 */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * Events an expiration accepts.
 *
 * `close` comes from the expiration's own executor task when it starts to run;
 * `settled` when the close has settled, `failed` when it threw, rejected or
 * timed out; `refused` when the executor refused the task; `superseded` when a
 * failed close comes back to an id taken meanwhile. `retry` sends a failed
 * entity back to closing. `shutdown` is `dispose({ close: true })`: close now,
 * whatever the state. `reclaim` comes only in durable managers, when a close's
 * claim ran out.
 */
export type ExpirationEvent =
  | { type: 'stop' }
  | { type: 'start' }
  | { type: 'expire' }
  | { type: 'delete' }
  | { type: 'dispose' }
  | { type: 'shutdown' }
  | { type: 'reclaim' }
  | { type: 'retry' }
  | { type: 'superseded' }
  | RenewEvent
  | CloseEvent
  | RefusedEvent
  | FailedEvent
  | { type: 'settled' };

/** `new` for an id that is still live: the same entity takes the new deadline and close (see {@link ExpirationContext}'s `Close`). */
export interface RenewEvent<Close = CloseFn> {
  type: 'renew';
  /** The new absolute deadline. */
  deadline: number;
  /** The close for the renewed entity. */
  close: Close;
  /** Its executor; `undefined` for the manager's default. */
  executor?: Executor | undefined;
  /** Its retry policy; `undefined` keeps the current one. */
  retry?: Readonly<RetryPolicy> | undefined;
  /** Its close timeout; `undefined` keeps the current one. */
  closeTimeoutMs?: number | undefined;
}

/**
 * The calls both managers route to an entity by id, as events without a
 * payload: declared once, here. A call added to the machine and listed here
 * reaches the entity from either facade.
 */
export const ROUTED_CALLS = ['stop', 'start', 'expire', 'delete', 'retry'] as const;
/** A call routed by id to an entity. */
export type RoutedCall = (typeof ROUTED_CALLS)[number];

/** What an expiration ends with: which entity, and whether it closed or was deleted. */
export interface ExpirationOutput {
  id: string;
  ref: AnyActorRef;
  closed: boolean;
}

/** Milliseconds from now to the saved deadline, clamped to what a timer can hold. */
const untilDeadline = ({ context }: { context: ExpirationContext }): number =>
  Math.min(MAX_TIMER_DELAY, Math.max(0, context.deadline - context.clock.now()));

/**
 * A delay for a timer that never comes: `Infinity`, which the managers' timer
 * heap and a `SimulatedClock` leave unarmed. On Node's own timers (an actor
 * embedded without a clock) Infinity would fire after 1 ms with a warning: the
 * longest timer instead, whose event the guard then ignores.
 */
const never = (clock: ExpireClock): number => (clock === realClock ? MAX_TIMER_DELAY : Infinity);

/** Milliseconds from now to the running attempt's timeout; {@link never} without one. */
const untilCloseTimeout = ({ context }: { context: ExpirationContext }): number =>
  context.closeDeadline === Infinity
    ? never(context.clock)
    : Math.min(MAX_TIMER_DELAY, Math.max(0, context.closeDeadline - context.clock.now()));

/** The pause timeout as a delay; {@link never} without one. */
const pauseTimeout = ({ context }: { context: ExpirationContext }): number => context.pauseTimeoutMs ?? never(context.clock);

/** An error's message, for `get(id)` and `list()`: what a person reads first. */
const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === 'string' ? error : String(error);

/** How a live expiration (active or paused) ends without closing. */
const endsWithoutClose = {
  delete: {
    target: '#expiration.deleted',
    description: 'Deleted without closing (also when the id changed).',
    meta: realises('go:delete', 'go:id-change'),
  },
  dispose: { target: '#expiration.deleted', description: 'The manager is disposed.', meta: realises('go:dispose') },
  shutdown: {
    target: '#expiration.expired',
    description: 'dispose({ close: true }): close now, after any running update.',
    meta: realises('dispose:close'),
  },
};

/** How an entity whose close failed (retrying, or failed) ends, or lives again. */
const retainedEnds = {
  renew: {
    target: '#expiration.active',
    actions: 'renew',
    description: 'New for this id: renewed like any live entity; no failed close is retried.',
    meta: realises('go:replace'),
  },
  delete: { target: '#expiration.deleted', description: 'Deleted: dropped without closing.', meta: realises('go:delete') },
  dispose: { target: '#expiration.deleted', description: 'The manager is disposed.', meta: realises('go:dispose') },
  superseded: {
    target: '#expiration.deleted',
    description: 'The id was taken by a new entity while the close ran: the failed close is not retried.',
    meta: realises('close:retry'),
  },
} as const;

/**
 * One entity's expiration, as a statechart.
 *
 * - `active`: counting down to the saved absolute deadline (a named, context-driven delay).
 * - `paused`: an update is running; the deadline is kept (R1.1).
 * - `expired`: the deadline passed or the entity was force-expired; the close is
 *   `queued` on the executor, then `closing` once it runs (at most
 *   `closeTimeoutMs`), and `retrying` after a failed attempt when retries are on.
 * - `failed`: every attempt failed; kept until `retry`, `new` or `delete`.
 * - `closed` and `deleted`: final. Nothing expires or closes them again (R4).
 */
export const expirationMachine = setup({
  types: {
    context: {} as ExpirationContext,
    input: {} as ExpirationInput,
    events: {} as ExpirationEvent,
    output: {} as ExpirationOutput,
  },
  delays: {
    deadline: untilDeadline,
    closeTimeout: untilCloseTimeout,
    pauseTimeout,
    backoff: ({ context }) => backoffMs(context.retry, context.id, context.generation, context.attempt),
  },
  guards: {
    deadlineReached: ({ context }) => context.clock.now() >= context.deadline,
    // A refusal reported late, after a renewal, is about a close that will never run.
    sameGeneration: ({ context, event }) => (event as RefusedEvent).generation === context.generation,
    closeTimedOut: ({ context }) => context.clock.now() >= context.closeDeadline,
    // Without a pause timeout, the longest timer (an embedded actor's never()) ends nothing.
    pauseLimited: ({ context }) => context.pauseTimeoutMs !== undefined,
    attemptsLeft: ({ context }) => context.attempt < context.retry.attempts,
    // Without retries (one attempt: Go's behaviour) a failed close is reported and gone.
    keepsFailures: ({ context }) => context.retry.attempts > 1,
  },
  // Every effect is shared with the manager's record engine (see effects.ts), so
  // an entity behaves the same whether it rests as a record or runs as an actor.
  actions: {
    /** Queues the close on the entity's executor; a stale task returns at once. */
    queueClose: ({ context, self }) => queueClose(actorTarget(self, context)),
    /** Runs the close with a signal scoped to it (R3), one microtask later. */
    runClose: ({ context, event, self }) => runClose(actorTarget(self, context), event as CloseEvent),
    /** Aborts the running close's signal. */
    abortClose: ({ context, self }) => abortClose(actorTarget(self, context)),
    /** Tells the parent (the manager) that the close starts: the entity leaves it. */
    notifyClosing: ({ context, event, self }) => notifyClosing(actorTarget(self, context), event as CloseEvent),
    /** The attempt ran out of time: abort its signal, end its executor task, fail it. */
    timeoutClose: ({ context, self }) => timeoutClose(actorTarget(self, context)),
    /** The close failed: the entity goes back to the parent (to retry, or to keep). */
    rejoin: ({ context, self }) => rejoin(actorTarget(self, context)),
    renew: assign(({ context, event }) => {
      const { deadline, close, executor, retry = context.retry, closeTimeoutMs = context.closeTimeoutMs } = event as RenewEvent;
      return { deadline, close, executor, retry, closeTimeoutMs, generation: context.generation + 1, attempt: 0, lastError: undefined };
    }),
    startAttempt: assign(({ context }) => ({
      attempt: context.attempt + 1,
      closeDeadline: context.closeTimeoutMs === undefined ? Infinity : context.clock.now() + context.closeTimeoutMs,
    })),
    recordFailure: assign(({ event }) => ({ lastError: messageOf((event as FailedEvent).error) })),
    resetAttempts: assign({ attempt: 0, lastError: undefined }),
  },
}).createMachine({
  id: 'expiration',
  description: 'Expires an entity at its deadline unless it is being updated.',
  /**
   * The input, validated, with its defaults, on its first generation. The
   * deadline is absolute; the clock is the actor's own (`Actor.clock`: the one
   * given to `createActor`, shared by the whole actor system), so the delays
   * XState schedules on it and the deadline math read one clock.
   */
  context: ({ input, self }) => expirationContext(input, (self as Partial<Pick<AnyActor, 'clock'>>).clock),
  /**
   * Tells the manager, in XState's done event, which entity ended and how: the
   * final state reached gives its own output (`closed` or not).
   */
  output: ({ context, event, self }): ExpirationOutput => ({
    id: context.id,
    ref: self,
    // Stryker disable next-line OptionalChaining: closed and deleted both give an output
    closed: (event as { output?: { closed?: boolean } }).output?.closed === true,
  }),
  initial: 'active',
  states: {
    active: {
      description: 'Counting down to the saved deadline.',
      after: {
        deadline: [
          {
            guard: 'deadlineReached',
            target: 'expired',
            description: 'The deadline has passed: queue the close.',
            meta: realises('go:timeout'),
          },
          {
            target: 'active',
            reenter: true,
            description: 'Woken before the deadline (a delay longer than a timer holds): re-arm.',
            meta: realises('go:timeout'),
          },
        ],
      },
      on: {
        stop: {
          target: 'paused',
          description: 'An update starts: pause, keeping the deadline.',
          meta: realises('R1.1'),
        },
        renew: {
          target: 'active',
          reenter: true,
          actions: 'renew',
          description: 'New for this id: the new deadline and close replace the old ones.',
          meta: realises('go:replace'),
        },
        ...endsWithoutClose,
      },
    },
    paused: {
      description: 'An update is running: expiration is paused.',
      after: {
        pauseTimeout: {
          guard: 'pauseLimited',
          target: 'active',
          description: 'The pause outlived pauseTimeoutMs (durable: its updaters all died): resume with the same deadline.',
          meta: realises('R1.2', 'pause:timeout'),
        },
      },
      on: {
        stop: {
          target: 'paused',
          reenter: true,
          description: 'Another update starts: it holds the pause too, whose timeout starts again.',
          meta: realises('R1.1', 'pause:timeout'),
        },
        start: {
          target: 'active',
          description: 'The update failed: resume with the same deadline.',
          meta: realises('R1.2'),
        },
        expire: {
          target: 'expired',
          description: 'An error after a successful update: close gracefully now.',
          meta: realises('R2'),
        },
        renew: {
          target: 'active',
          actions: 'renew',
          description: 'The update succeeded (New): the new deadline and close replace the old ones.',
          meta: realises('go:replace'),
        },
        ...endsWithoutClose,
      },
    },
    expired: {
      description: 'Expired: ignores stop, start and expire until replaced by new (R4).',
      initial: 'queued',
      states: {
        queued: {
          description: 'The close waits for its turn on the executor.',
          entry: 'queueClose',
          on: {
            close: {
              target: 'closing',
              description: 'The executor runs the close task.',
              meta: realises('R3', 'R4'),
            },
            renew: {
              target: '#expiration.active',
              actions: 'renew',
              description: 'Updated before the close started: the queued close never runs.',
              meta: realises('go:replace', 'R4'),
            },
            delete: {
              target: '#expiration.deleted',
              description: 'Deleted before the close started: it never runs.',
              meta: realises('go:delete', 'R4'),
            },
            dispose: { target: '#expiration.deleted', description: 'The manager is disposed.', meta: realises('go:dispose') },
            refused: {
              guard: 'sameGeneration',
              target: '#expiration.deleted',
              description: 'The executor refused the close: reported, then dropped without closing.',
              meta: realises('executor:refused'),
            },
          },
        },
        closing: {
          description: 'The close runs with a signal scoped to it (one attempt).',
          entry: ['startAttempt', 'notifyClosing', 'runClose'],
          after: {
            closeTimeout: {
              guard: 'closeTimedOut',
              actions: 'timeoutClose',
              description: 'The attempt ran longer than closeTimeoutMs: its signal aborts and it fails.',
              meta: realises('close:timeout'),
            },
          },
          on: {
            settled: {
              target: '#expiration.closed',
              description: 'The close settled: its signal aborts.',
              meta: realises('R3', 'R4'),
            },
            failed: [
              {
                guard: 'attemptsLeft',
                target: 'retrying',
                actions: 'recordFailure',
                description: 'The attempt failed (reported): try again after a backoff.',
                meta: realises('close:retry'),
              },
              {
                guard: 'keepsFailures',
                target: '#expiration.failed',
                actions: 'recordFailure',
                description: 'The last attempt failed (reported): keep the entity as a dead letter.',
                meta: realises('close:retry'),
              },
              {
                target: '#expiration.closed',
                description: 'No retries (Go): the failure is reported and the entity is gone.',
                meta: realises('go:close-error'),
              },
            ],
            dispose: {
              target: '#expiration.closed',
              actions: 'abortClose',
              description: 'The manager is disposed while closing: abort the close signal.',
              meta: realises('R3', 'go:dispose'),
            },
            reclaim: {
              target: 'closing',
              reenter: true,
              description: 'Durable managers: the process running the close stopped renewing its claim; another takes it over.',
              meta: realises('durable:claim'),
            },
          },
        },
        retrying: {
          description: 'A close attempt failed: the next one is queued after a backoff.',
          entry: 'rejoin',
          after: {
            backoff: {
              target: 'queued',
              description: 'The backoff is over: queue the next attempt.',
              meta: realises('close:retry'),
            },
          },
          on: {
            shutdown: { target: 'queued', description: 'dispose({ close: true }): try again now.', meta: realises('dispose:close') },
            ...retainedEnds,
          },
        },
      },
    },
    failed: {
      description: 'Every close attempt failed: kept as a dead letter until retried, renewed or deleted.',
      entry: 'rejoin',
      on: {
        retry: {
          target: '#expiration.expired',
          actions: 'resetAttempts',
          description: 'retry(id): a fresh round of attempts.',
          meta: realises('close:retry'),
        },
        ...retainedEnds,
      },
    },
    closed: {
      description: 'Closed once. Final: never closed or expired again (R4).',
      type: 'final',
      output: { closed: true },
    },
    deleted: {
      // Only the manager deletes (delete, replace, dispose), so it needs no notice.
      description: 'Deleted without closing. Final (R4).',
      type: 'final',
      output: { closed: false },
    },
  },
});

/** The machine's logic type. */
export type ExpirationMachine = typeof expirationMachine;
/** A reference to a running expiration actor. */
export type ExpirationActorRef = ActorRefFrom<ExpirationMachine>;
/** A snapshot of an expiration actor. */
export type ExpirationSnapshot = SnapshotFrom<ExpirationMachine>;
/** The top-level states of an expiration. */
export type ExpirationState = 'active' | 'paused' | 'expired' | 'failed' | 'closed' | 'deleted';
/** The states of an expiration the manager still holds (`closed` and `deleted` ones it has forgotten). */
export type LiveExpirationState = Extract<ExpirationState, 'active' | 'paused' | 'expired' | 'failed'>;
