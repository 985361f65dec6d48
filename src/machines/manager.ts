import { type ActorRefFrom, type AnyActorRef, type SnapshotFrom, createActor, sendTo, setup } from 'xstate';
import { SerialExecutor } from '../manager/serial-executor.js';
import type { CloseErrorHandler, CloseFn, ExpireClock, Executor } from '../types.js';
import { type ExpirationActorRef, type ExpirationNotice, expirationMachine } from './expiration.js';

/** What the manager actor is created with. */
export interface ManagerInput {
  /** The clock of the actor system; `now()` is handed to every expiration. */
  clock: ExpireClock;
  /** Receives every close failure, with the entity's id. */
  onCloseError: CloseErrorHandler;
}

/**
 * The manager's registries. They are mutated in place so that creating and
 * removing an entity stays O(1): a fresh copy per event would make N creations
 * quadratic, the very trap of `spawnChild` with many children.
 */
export interface ManagerContext extends ManagerInput {
  /** Live expirations (active, paused or expired and queued), by id. */
  expirations: Map<string, ExpirationActorRef>;
  /** Closes in flight: the entity leaves `expirations` when its close starts. */
  closing: Map<AnyActorRef, Promise<void>>;
  /** The default per-id executors, for entities created without one. */
  executors: Map<string, SerialExecutor>;
}

/** Calls routed to one entity by id. */
export type RoutedEvent = { type: 'stop' | 'start' | 'expire' | 'delete'; id: string };

/** Events the manager accepts: the facade's calls and its children's notices. */
export type ManagerEvent =
  | { type: 'new'; id: string; deadline: number; close: CloseFn; executor?: Executor | undefined }
  | RoutedEvent
  | { type: 'dispose' }
  | ExpirationNotice;

type Event<T extends ManagerEvent['type']> = Extract<ManagerEvent, { type: T }>;

/**
 * The parent of every expiration: it spawns them, routes calls to them by id and
 * forgets them when they close or are deleted.
 *
 * Children are created with `createActor(expirationMachine, { parent })` and
 * kept in a Map, not with `spawnChild`, so each one costs O(1); they still live
 * in the manager's actor system (one clock, one inspector).
 */
export const managerMachine = setup({
  types: {
    context: {} as ManagerContext,
    input: {} as ManagerInput,
    events: {} as ManagerEvent,
  },
  guards: {
    known: ({ context, event }) => context.expirations.has((event as RoutedEvent).id),
    current: ({ context, event }) => {
      const { id, ref } = event as Event<'expiration.closing'>;
      return context.expirations.get(id) === ref;
    },
  },
  actions: {
    /** Sends a routed call to its entity; `known` guards that it exists. */
    route: sendTo(
      ({ context, event }) => context.expirations.get((event as RoutedEvent).id)!,
      ({ event }) => ({ type: (event as RoutedEvent).type }),
    ),
    /** Retires the entity a `new` replaces: it is deleted and never closes. */
    retire: sendTo(({ context, event }) => context.expirations.get((event as Event<'new'>).id)!, { type: 'delete' }),
    spawn: ({ context, event, self }) => {
      const { id, deadline, close, executor } = event as Event<'new'>;
      const child = createActor(expirationMachine, {
        parent: self,
        id,
        input: {
          id,
          deadline,
          close,
          executor: executor ?? executorFor(context, id),
          clock: context.clock,
          onCloseError: context.onCloseError,
        },
      });
      context.expirations.set(id, child);
      child.start();
    },
    forget: ({ context, event }) => {
      context.expirations.delete((event as RoutedEvent | Event<'expiration.closing'>).id);
    },
    trackClose: ({ context, event }) => {
      const { ref, settled } = event as Event<'expiration.closing'>;
      context.closing.set(ref, settled);
    },
    release: ({ context, event }) => {
      const { id, ref } = event as Event<'expiration.ended'>;
      context.closing.delete(ref);
      // The default executor outlives a replaced entity, so the old close and
      // the new entity's work stay serialized; it goes with the id's last entity.
      if (!context.expirations.has(id)) context.executors.delete(id);
    },
    disposeAll: ({ context }) => {
      for (const ref of context.expirations.values()) ref.send({ type: 'dispose' });
      for (const ref of context.closing.keys()) ref.send({ type: 'dispose' });
      context.expirations.clear();
      context.executors.clear();
    },
  },
}).createMachine({
  id: 'expireManager',
  description: 'Spawns one expiration actor per id and routes calls to it.',
  context: ({ input }) => ({
    ...input,
    expirations: new Map(),
    closing: new Map(),
    executors: new Map(),
  }),
  initial: 'running',
  states: {
    running: {
      on: {
        new: [
          { guard: 'known', actions: ['retire', 'spawn'], description: 'Replace the expiration for this id.' },
          { actions: 'spawn', description: 'Create the expiration for this id.' },
        ],
        stop: { guard: 'known', actions: 'route' },
        start: { guard: 'known', actions: 'route' },
        expire: { guard: 'known', actions: 'route' },
        delete: { guard: 'known', actions: ['route', 'forget'] },
        'expiration.closing': {
          guard: 'current',
          actions: ['forget', 'trackClose'],
          description: 'A close starts: the entity leaves the manager first.',
        },
        'expiration.ended': { actions: 'release' },
        dispose: 'disposed',
      },
    },
    disposed: {
      description: 'Every expiration is deleted and every running close aborted.',
      type: 'final',
      entry: 'disposeAll',
    },
  },
});

function executorFor(context: ManagerContext, id: string): SerialExecutor {
  let executor = context.executors.get(id);
  if (!executor) context.executors.set(id, (executor = new SerialExecutor()));
  return executor;
}

/** The manager machine's logic type. */
export type ManagerMachine = typeof managerMachine;
/** A reference to a running manager actor. */
export type ManagerActorRef = ActorRefFrom<ManagerMachine>;
/** A snapshot of the manager actor. */
export type ManagerSnapshot = SnapshotFrom<ManagerMachine>;
