import { type ActorRefFrom, type AnyActorRef, type SnapshotFrom, assign, enqueueActions, setup } from 'xstate';
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
  executor?: Executor | undefined;
  /**
   * Picks the executor when the close is queued, for an entity created without
   * one (the manager's per-id serial executors). With neither, the close is
   * queued on a microtask.
   */
  executorFor?: ((id: string) => Executor) | undefined;
  /** The clock the actor system's timers run on; `now()` drives the deadline math. */
  clock: ExpireClock;
  /** Receives a close's failure, and an executor's refusal to run the close. */
  onCloseError: CloseErrorHandler;
}

/**
 * The context of an expiration: its input, and which renewal it is on. Only a
 * renewal (`new` for a live id) changes the deadline.
 */
export interface ExpirationContext extends ExpirationInput {
  /** Counts renewals, so that a close queued before one is told apart as stale. */
  generation: number;
}

/**
 * Events an expiration accepts.
 *
 * `close` comes from the expiration's own executor task when it starts to run
 * (`settle` ends that task and `settled` is the promise it resolves);
 * `settled` comes when the close has settled.
 */
export type ExpirationEvent =
  | { type: 'stop' }
  | { type: 'start' }
  | { type: 'expire' }
  | { type: 'delete' }
  | { type: 'dispose' }
  | RenewEvent
  | CloseEvent
  | { type: 'settled' };

/** `new` for an id that is still live: the same actor takes the new deadline and close. */
export interface RenewEvent {
  type: 'renew';
  /** The new absolute deadline. */
  deadline: number;
  /** The close for the renewed entity. */
  close: CloseFn;
  /** Its executor; `undefined` for the manager's default. */
  executor?: Executor | undefined;
}

/** The executor has started the close task: the entity may close now. */
export interface CloseEvent {
  type: 'close';
  /** Ends the executor task; called when the close settles. */
  settle: () => void;
  /** Settles when `settle` is called. */
  settled: Promise<void>;
}

/**
 * The event an expiration sends to the manager that spawned it when its close
 * starts; `ref` is the sender. When it ends (closed or deleted), XState's own
 * done event tells the manager, with {@link ExpirationOutput}.
 */
export type ExpirationNotice = { type: 'expiration.closing'; id: string; ref: AnyActorRef; settled: Promise<void> };

/** What an expiration ends with: which entity, and whether it closed or was deleted. */
export interface ExpirationOutput {
  id: string;
  ref: AnyActorRef;
  closed: boolean;
}

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

/** Runs a task on the next microtask: for an expiration embedded without an executor. */
const microtaskExecutor: Executor = { asyncExec: async (task) => void (await task()) };

/** Why a close signal aborted; shared, so that aborting allocates no Error. */
const SETTLED = Object.freeze(new Error('xstate-expire: the close has settled'));
const DISPOSED = Object.freeze(new Error('xstate-expire: the manager was disposed while closing'));

/**
 * The signal scope of each running close, by expiration actor. It lives here,
 * not in context: it is a resource handle, and the statechart's `closing` state
 * says when it exists.
 */
const closeScopes = new WeakMap<AnyActorRef, AbortController>();

/** How a live expiration (active or paused) ends without closing. */
const endsWithoutClose = {
  delete: {
    target: '#expiration.deleted',
    description: 'Deleted without closing (also when the id changed).',
    meta: realises('go:delete', 'go:id-change'),
  },
  dispose: { target: '#expiration.deleted', description: 'The manager is disposed.', meta: realises('go:dispose') },
};

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
  delays: { deadline: untilDeadline },
  guards: {
    deadlineReached: ({ context }) => context.clock.now() >= context.deadline,
  },
  actions: {
    /**
     * Queues the close on the entity's executor. When the task runs, an entity
     * that has ended or been renewed since is not closed: a close queued but not
     * started never runs for a stale expiration. Otherwise the entity is still
     * `expired.queued`, the only way into `closing`.
     */
    queueClose: ({ context, self }) => {
      const { generation } = context;
      const task = (): Promise<void> | undefined => {
        // Ended (deleted, disposed) or renewed since: this close is stale (Go: `tt != t`).
        const now = self.getSnapshot();
        if (now.status !== 'active' || now.context.generation !== generation) return undefined;
        let settle!: () => void;
        const settled = new Promise<void>((resolve) => (settle = resolve));
        self.send({ type: 'close', settle, settled });
        return settled;
      };
      try {
        const executor = context.executor ?? context.executorFor?.(context.id) ?? microtaskExecutor;
        executor.asyncExec(task).catch((error: unknown) => report(context, error));
      } catch (error) {
        report(context, error);
      }
    },
    /**
     * Runs the user's close with a signal scoped to it (R3), on the next
     * microtask: after the manager has been told (`notifyClosing`), so the entity
     * has left the manager when the close is called. The signal aborts when the
     * close settles (then `settled` ends `closing`), or earlier on dispose. A
     * failure is reported, never thrown; the executor task always ends.
     */
    runClose: ({ context, event, self }) => {
      const scope = new AbortController();
      closeScopes.set(self, scope);
      const { settle } = event as CloseEvent;
      void (async () => {
        try {
          await Promise.resolve();
          await context.close(scope.signal);
        } catch (error) {
          report(context, error);
        } finally {
          scope.abort(SETTLED);
          closeScopes.delete(self);
          settle();
          // Disposed meanwhile: the entity is already closed and stopped.
          if (self.getSnapshot().status === 'active') self.send({ type: 'settled' });
        }
      })();
    },
    abortClose: ({ self }) => closeScopes.get(self)?.abort(DISPOSED),
    renew: assign(({ context, event }) => {
      const { deadline, close, executor } = event as RenewEvent;
      return { deadline, close, executor, generation: context.generation + 1 };
    }),
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
  },
}).createMachine({
  id: 'expiration',
  description: 'Expires an entity at its deadline unless it is being updated.',
  /** The input, on its first generation. The deadline is absolute. */
  context: ({ input }) => ({ ...input, generation: 0 }),
  /**
   * Tells the manager, in XState's done event, which entity ended and how: the
   * final state reached gives its own output (`closed` or not).
   */
  output: ({ context, event, self }): ExpirationOutput => ({
    id: context.id,
    ref: self,
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
          },
        },
        closing: {
          description: 'The close runs with a signal scoped to it.',
          entry: ['notifyClosing', 'runClose'],
          on: {
            settled: {
              target: '#expiration.closed',
              description: 'The close settled: its signal aborts.',
              meta: realises('R3', 'R4'),
            },
            dispose: {
              target: '#expiration.closed',
              actions: 'abortClose',
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
export type ExpirationState = 'active' | 'paused' | 'expired' | 'closed' | 'deleted';
/** The states of an expiration the manager still holds (`closed` and `deleted` ones it has forgotten). */
export type LiveExpirationState = Extract<ExpirationState, 'active' | 'paused' | 'expired'>;
