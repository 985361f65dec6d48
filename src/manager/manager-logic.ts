import { type ActorLogic, type ActorRefFrom, type ActorSystem, type AnyActorRef, createActor } from 'xstate';
import { type ExpirationActorRef, type ExpirationNotice, type ExpirationOutput, expirationMachine } from '../machines/expiration.js';
import type { CloseErrorHandler, CloseFn, ExpireClock, Executor } from '../types.js';
import { SerialExecutor } from './serial-executor.js';

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
  /** Live expirations (active, paused, or expired with the close queued), by id. */
  expirations: Map<string, ExpirationActorRef>;
  /** Closes in flight, with the promise that settles with each: the entity left `expirations` when its close started. */
  closing: Map<AnyActorRef, Promise<void>>;
  /** The default per-id executors, for entities created without one, made when one expires. */
  executors: Map<string, SerialExecutor>;
  /** Hands out those executors; one function shared by every entity. */
  executorFor: (id: string) => Executor;
  /** A small, O(1) view for inspectors and logs: how many, and the first few ids. */
  toJSON(): { size: number; ids: string[]; closing: number };
}

const SHOWN_IDS = 20;

function summary(this: ManagerContext) {
  const ids: string[] = [];
  for (const id of this.expirations.keys()) {
    if (ids.push(id) >= SHOWN_IDS) break;
  }
  return { size: this.expirations.size, ids, closing: this.closing.size };
}

/** Calls routed to one entity by id. */
export type RoutedEvent = { type: 'stop' | 'start' | 'expire' | 'delete'; id: string };

/** Events the manager accepts: the facade's calls and its children's notices. */
export type ManagerEvent =
  | { type: 'new'; id: string; deadline: number; close: CloseFn; executor?: Executor | undefined }
  | RoutedEvent
  | { type: 'dispose' }
  | ExpirationNotice;

/** The manager's snapshot: `active` while running, `done` once disposed. */
export type ManagerSnapshot = {
  status: 'active' | 'done';
  output: undefined;
  error: undefined;
  context: ManagerContext;
};

/** The manager's actor logic type. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ManagerLogic = ActorLogic<ManagerSnapshot, ManagerEvent, ManagerInput, ActorSystem<any>>;
/** A reference to a running manager actor. */
export type ManagerActorRef = ActorRefFrom<ManagerLogic>;

/**
 * The parent of every expiration: it spawns one expiration actor per id, routes
 * calls to it, and forgets it when its close starts or it is deleted.
 *
 * It is custom actor logic rather than a state machine: it owns no behaviour of
 * its own, only a registry and a route, and every decision about an entity is
 * the entity's statechart's. Children are created with
 * `createActor(expirationMachine, { parent })` and kept in a Map, so creating
 * or removing one is O(1) (`spawnChild` copies the parent's children on every
 * call), while they still live in the manager's actor system: one clock, one
 * inspector.
 */
export const managerLogic: ManagerLogic = {
  // Names the actor in inspectors (which read `logic.config.id`).
  config: { id: 'expireManager' },
  getInitialSnapshot: (_scope, input) => {
    const executors = new Map<string, SerialExecutor>();
    const executorFor = (id: string): Executor => {
      let executor = executors.get(id);
      if (!executor) executors.set(id, (executor = new SerialExecutor()));
      return executor;
    };
    return {
      status: 'active',
      output: undefined,
      error: undefined,
      context: { ...input, expirations: new Map(), closing: new Map(), executors, executorFor, toJSON: summary },
    };
  },

  transition: (snapshot, event, { self }) => {
    if (snapshot.status !== 'active') return snapshot;
    const context = snapshot.context;
    const { expirations } = context;
    switch (event.type) {
      case 'new': {
        // A live id is renewed in place: its old close never runs, even if queued.
        const live = expirations.get(event.id);
        if (live) {
          live.send({ type: 'renew', deadline: event.deadline, close: event.close, executor: event.executor });
          break;
        }
        const child = createActor(expirationMachine, {
          parent: self,
          id: event.id,
          input: {
            id: event.id,
            deadline: event.deadline,
            close: event.close,
            executor: event.executor,
            executorFor: context.executorFor,
            clock: context.clock,
            onCloseError: context.onCloseError,
          },
        });
        expirations.set(event.id, child);
        child.start();
        break;
      }
      case 'stop':
      case 'start':
      case 'expire':
        expirations.get(event.id)?.send({ type: event.type });
        break;
      case 'delete':
        expirations.get(event.id)?.send({ type: 'delete' });
        expirations.delete(event.id);
        // A queued close that was cancelled may still pass through it: harmless.
        context.executors.delete(event.id);
        break;
      case 'expiration.closing':
        // A close starts: the entity leaves the manager before the close is called.
        if (expirations.get(event.id) === event.ref) {
          expirations.delete(event.id);
          context.closing.set(event.ref, event.settled);
        }
        break;
      case 'dispose':
      case 'xstate.stop' as string:
        for (const ref of expirations.values()) ref.send({ type: 'dispose' });
        for (const ref of context.closing.keys()) ref.send({ type: 'dispose' });
        expirations.clear();
        context.executors.clear();
        return { ...snapshot, status: 'done' };
      default: {
        // A child reached a final state (XState's done event, with its output).
        const done: { type: string } = event;
        const ended = isDone(done) ? done.output : undefined;
        if (!ended?.closed) return snapshot;
        context.closing.delete(ended.ref);
        // The default executor outlives a replaced entity, so its close and the
        // successor's work stay serialized; it goes with the id's last entity.
        if (!expirations.has(ended.id)) context.executors.delete(ended.id);
        break;
      }
    }
    return { ...snapshot };
  },

  // Live actor refs and functions cannot be persisted; a snapshot is only for inspection.
  getPersistedSnapshot: (snapshot) => snapshot,
};

/** Whether `event` is the done event of an expiration (`xstate.done.actor.<id>`). */
const isDone = (event: { type: string }): event is { type: string; output: ExpirationOutput } =>
  event.type.startsWith('xstate.done.actor.');

/**
 * The manager's actor logic under the name the machines go by. It is custom
 * logic, not a statechart: see {@link managerLogic}.
 */
export const managerMachine = managerLogic;
