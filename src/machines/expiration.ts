import { type ActorRefFrom, type AnyActorRef, type SnapshotFrom, enqueueActions, fromPromise, setup } from 'xstate';
import type { CloseErrorHandler, CloseFn, ExpireClock, Executor } from '../types.js';
import { realises } from './requirements.js';

/**
 * Node's timers hold a signed 32-bit delay; a longer one fires at once. Longer
 * waits are split: the delayed transition re-arms until the deadline is reached.
 */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/** What one expiration is created with. */
export interface ExpirationInput {
  /** The entity's id, as the manager knows it. */
  id: string;
  /** Absolute time on `clock` at which the entity expires. */
  deadline: number;
  /** Called once, with a signal scoped to that close, when the entity expires. */
  close: CloseFn;
  /** Serializes the close with the entity's other work. */
  executor: Executor;
  /** The clock the actor system's timers run on; `now()` drives the deadline math. */
  clock: ExpireClock;
  /** Receives a close's failure, and an executor's refusal to run the close. */
  onCloseError: CloseErrorHandler;
}

/** The context of an expiration: its input, kept as is. The deadline never changes. */
export type ExpirationContext = ExpirationInput;

/**
 * Events an expiration accepts.
 *
 * `close` comes from the expiration's own executor task when it starts to run;
 * `settle` ends that task and `settled` is the promise it resolves.
 */
export type ExpirationEvent =
  | { type: 'stop' }
  | { type: 'start' }
  | { type: 'expire' }
  | { type: 'delete' }
  | { type: 'dispose' }
  | CloseEvent;

/** The executor has started the close task: the entity may close now. */
export interface CloseEvent {
  type: 'close';
  /** Ends the executor task; called when the close settles. */
  settle: () => void;
  /** Settles when `settle` is called. */
  settled: Promise<void>;
}

/**
 * Events an expiration sends to the manager that spawned it; `ref` is the
 * sender, so a notice from a replaced expiration is told apart from its successor.
 */
export type ExpirationNotice =
  | { type: 'expiration.closing'; id: string; ref: AnyActorRef; settled: Promise<void> }
  | { type: 'expiration.closed'; id: string; ref: AnyActorRef };

/** Milliseconds from now to the saved deadline, clamped to what a timer can hold. */
const untilDeadline = ({ context }: { context: ExpirationContext }): number =>
  Math.min(MAX_TIMER_DELAY, Math.max(0, context.deadline - context.clock.now()));

/** Reports without ever throwing into XState: a throwing handler falls back to the console. */
function report(context: Pick<ExpirationContext, 'id' | 'onCloseError'>, error: unknown): void {
  try {
    context.onCloseError(context.id, error);
  } catch (handlerError) {
    console.error(`xstate-expire: onCloseError threw while reporting "${context.id}":`, handlerError, error);
  }
}

/** What the close actor (`runClose`) runs with. */
export interface CloseInput extends Pick<ExpirationContext, 'id' | 'close' | 'onCloseError'> {
  /** Ends the executor task that started this close. */
  settle: () => void;
}

/**
 * Runs the user's close with a signal scoped to it (requirement 3).
 *
 * The signal aborts when the close settles, and earlier when this actor is
 * stopped (the manager was disposed). Failures are reported, never thrown, so
 * the close settles the executor task whatever happens.
 */
const runClose = fromPromise<void, CloseInput>(async ({ input, signal: stopped }) => {
  const scope = new AbortController();
  const abort = (): void => scope.abort(stopped.reason);
  stopped.addEventListener('abort', abort, { once: true });
  try {
    await input.close(scope.signal);
  } catch (error) {
    report(input, error);
  } finally {
    stopped.removeEventListener('abort', abort);
    scope.abort(new Error(`close of "${input.id}" has settled`));
    input.settle();
  }
});

/**
 * One entity's expiration, as a statechart.
 *
 * - `active`: counting down to the saved absolute deadline (a named, context-driven delay).
 * - `paused`: an update is running; the deadline is kept (R1.1).
 * - `expired`: the deadline passed or the entity was force-expired; the close is
 *   `queued` on the executor, then `closing` once it runs.
 * - `closed` and `deleted`: final. Nothing expires or closes them again (R4).
 */
export const expirationMachine = setup({
  types: {
    context: {} as ExpirationContext,
    input: {} as ExpirationInput,
    events: {} as ExpirationEvent,
  },
  actors: { runClose },
  delays: { deadline: untilDeadline },
  guards: {
    deadlineReached: ({ context }) => context.clock.now() >= context.deadline,
  },
  actions: {
    /**
     * Queues the close on the entity's executor. When the task runs, an entity
     * that has ended since (deleted, replaced by `new`, disposed) is not closed:
     * a close queued but not started never runs for a stale expiration. An
     * alive entity is still `expired.queued`, the only way into `closing`.
     */
    queueClose: ({ context, self }) => {
      const task = (): Promise<void> | undefined => {
        if (self.getSnapshot().status !== 'active') return undefined;
        let settle!: () => void;
        const settled = new Promise<void>((resolve) => (settle = resolve));
        self.send({ type: 'close', settle, settled });
        return settled;
      };
      try {
        context.executor.asyncExec(task).catch((error: unknown) => report(context, error));
      } catch (error) {
        report(context, error);
      }
    },
    // The manager listens; an expiration embedded on its own has no parent to tell.
    notifyClosing: enqueueActions(({ context, event, self, enqueue }) => {
      if (!self._parent) return;
      enqueue.sendParent({
        type: 'expiration.closing',
        id: context.id,
        ref: self,
        settled: (event as Extract<ExpirationEvent, { type: 'close' }>).settled,
      } satisfies ExpirationNotice);
    }),
    notifyClosed: enqueueActions(({ context, self, enqueue }) => {
      if (!self._parent) return;
      enqueue.sendParent({ type: 'expiration.closed', id: context.id, ref: self } satisfies ExpirationNotice);
    }),
  },
}).createMachine({
  id: 'expiration',
  description: 'Expires an entity at its deadline unless it is being updated.',
  /** The input, as is: the deadline is absolute and never changes. */
  context: ({ input }) => input,
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
        delete: { target: 'deleted', description: 'Deleted or replaced without closing.', meta: realises('go:delete', 'go:replace', 'go:id-change') },
        dispose: { target: 'deleted', description: 'The manager is disposed.', meta: realises('go:dispose') },
      },
    },
    paused: {
      description: 'An update is running: expiration is paused.',
      on: {
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
        delete: { target: 'deleted', description: 'Deleted or replaced without closing.', meta: realises('go:delete', 'go:replace', 'go:id-change') },
        dispose: { target: 'deleted', description: 'The manager is disposed.', meta: realises('go:dispose') },
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
            delete: {
              target: '#expiration.deleted',
              description: 'Deleted or replaced before the close started: it never runs.',
              meta: realises('go:delete', 'go:replace', 'R4'),
            },
            dispose: { target: '#expiration.deleted', description: 'The manager is disposed.', meta: realises('go:dispose') },
          },
        },
        closing: {
          description: 'The close runs with a signal scoped to it.',
          entry: 'notifyClosing',
          invoke: {
            id: 'close',
            src: 'runClose',
            /** The close, its error handler, and the `settle` of the executor task that started it. */
            input: ({ context, event }) => ({
              id: context.id,
              close: context.close,
              onCloseError: context.onCloseError,
              /** Ends the executor task. */
              settle: (event as CloseEvent).settle,
            }),
            onDone: {
              target: '#expiration.closed',
              description: 'The close settled: its signal aborts.',
              meta: realises('R3', 'R4'),
            },
          },
          on: {
            dispose: {
              target: '#expiration.closed',
              description: 'The manager is disposed while closing: abort the close signal.',
              meta: realises('R3', 'go:dispose'),
            },
          },
        },
      },
    },
    closed: {
      description: 'Closed once. Final: never closed or expired again (R4).',
      type: 'final',
      entry: 'notifyClosed',
    },
    deleted: {
      // Only the manager deletes (delete, replace, dispose), so it needs no notice.
      description: 'Deleted without closing. Final (R4).',
      type: 'final',
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
export type ExpirationState = 'active' | 'paused' | 'expired' | 'closed' | 'deleted';
/** The states of an expiration the manager still holds (`closed` and `deleted` ones it has forgotten). */
export type LiveExpirationState = Extract<ExpirationState, 'active' | 'paused' | 'expired'>;
