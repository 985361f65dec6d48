import type { ActorLogic, ActorRefFrom, ActorSystem } from 'xstate';
import { compileMachine } from '../machines/compile.js';
import {
  type ExpirationNotice,
  type ExpirationOutput,
  ROUTED_CALLS,
  type RoutedCall,
  expirationMachine,
} from '../machines/expiration.js';
import type { CloseErrorHandler, CloseFn } from '../types.js';
import { type EntityOptions, ExpireEngine } from './engine.js';
import { installScheduler } from './scheduler.js';
import type { TimerHeap } from './timer-heap.js';

/** What the manager actor is created with. */
export interface ManagerInput {
  /** The timer heap of the manager: its records' timers, and its actor system's clock. */
  clock: TimerHeap;
  /** Receives every close failure, with the entity's id. */
  onCloseError: CloseErrorHandler;
  /** Materialize every entity as a live actor as it is created (set when inspecting). */
  materializeAll?: boolean;
  /** How long a pause may last before the saved deadline resumes; `undefined` (the default) for no limit. */
  pauseTimeoutMs?: number | undefined;
}

/** The manager's context: the engine that holds its entities, and a small view of it. */
export interface ManagerContext {
  /** The entities: records driven by the compiled statechart, or live actors. */
  engine: ExpireEngine;
  /** A small, O(1) view for inspectors and logs: how many, the first few ids, closes in flight. */
  toJSON(): { size: number; ids: string[]; closing: number };
}

const SHOWN_IDS = 20;

const isRouted = (type: string): type is RoutedCall => (ROUTED_CALLS as readonly string[]).includes(type);

/** Calls routed to one entity by id. */
export type RoutedEvent = { type: RoutedCall; id: string };

/** Events the manager accepts: the facade's calls and its materialized children's notices. */
export type ManagerEvent =
  | ({ type: 'new'; id: string; deadline: number; close: CloseFn } & Partial<EntityOptions>)
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
 * The parent of every entity: it holds them in an engine (`ExpireEngine`) and
 * routes calls to them by id. Each entity is a virtual actor: a compact record
 * driven by the table compiled from `expirationMachine`, materialized as a live
 * child actor of this one when someone asks for it (`actorOf`) or inspects.
 *
 * It is custom actor logic rather than a state machine: it owns no behaviour of
 * its own, only a registry and a route; every decision about an entity is the
 * entity's statechart's. Events sent to it take the same route as the facade's
 * calls (which go to the engine directly, without a macrostep per call).
 */
export const managerLogic: ManagerLogic = {
  // Names the actor in inspectors (which read `logic.config.id`).
  config: { id: 'expireManager' },
  getInitialSnapshot: ({ self, system }, input) => {
    const engine = new ExpireEngine({
      // Materialized entities are actors of this system: their delayed events share the heap.
      scheduler: installScheduler(system, input.clock),
      table: compileMachine(expirationMachine),
      heap: input.clock,
      onCloseError: input.onCloseError,
      pauseTimeoutMs: input.pauseTimeoutMs,
      parent: self,
      materializeAll: input.materializeAll === true,
    });
    return {
      status: 'active',
      output: undefined,
      error: undefined,
      context: {
        engine,
        toJSON: () => ({ size: engine.size, ids: engine.ids(SHOWN_IDS), closing: engine.closingCount }),
      },
    };
  },

  transition: (snapshot, event) => {
    // Stryker disable next-line ConditionalExpression: XState sends a done actor no events
    if (snapshot.status !== 'active') return snapshot;
    const { engine } = snapshot.context;
    switch (event.type) {
      case 'new':
        engine.new(event.id, event.deadline, event.close, event);
        break;
      case 'expiration.closing':
        engine.actorClosing(event.ref, event.settled);
        break;
      case 'expiration.rejoined':
        engine.actorRejoined(event.ref);
        break;
      case 'dispose':
      case 'xstate.stop' as string:
        void engine.dispose();
        return { ...snapshot, status: 'done' };
      default: {
        if (isRouted(event.type)) {
          engine.route(event.type, (event as RoutedEvent).id);
          break;
        }
        // A materialized child reached a final state (XState's done event, with its output).
        const done = event as { type: string; output?: ExpirationOutput };
        if (
          done.type.startsWith('xstate.done.actor.') &&
          // Stryker disable next-line ConditionalExpression: a child's done event always has its output
          done.output
        ) {
          engine.actorEnded(done.output.ref);
        }
        return snapshot;
      }
    }
    return { ...snapshot };
  },

  // Live records and functions cannot be persisted; a snapshot is only for inspection.
  getPersistedSnapshot: (snapshot) => snapshot,
};

/** The manager's clock type, re-exported for embedding. */
export type { TimerHeap };
