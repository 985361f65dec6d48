/**
 * Two ways an inspector could see every entity by its id, measured side by side:
 *
 * - **materialize** (what the library does with `inspect`): every entity is a
 *   live XState actor from creation, so the inspector sees real actors, real
 *   events and real snapshots.
 * - **synthetic events** (a prototype, not in the library): entities stay
 *   records, and each call emits the inspection events XState would have —
 *   `@xstate.actor` once, then `@xstate.event` and `@xstate.snapshot` with a
 *   snapshot built by `machine.resolveState` — from a fake actor ref. This is a
 *   lower bound of its cost: a real one would also need the refs to answer
 *   `getSnapshot` and `send`, and every effect's event to be traced.
 */
import type { InspectionEvent } from 'xstate';
import { type ExpireManager, createExpireManager, expirationMachine } from '../src/index.js';

type Close = (signal: AbortSignal) => unknown;

/** What both modes give the benchmark: the Go calls it drives. */
export interface InspectedSubject {
  create(id: string, deadline: number, close: Close): void;
  cycle(id: string, deadline: number, close: Close): void;
  dispose(): unknown;
}

/** An inspector that does what a real one does first: keep each event. */
function inspector() {
  let kept = 0;
  return { observe: (_event: InspectionEvent) => void kept++, count: () => kept };
}

/** Every entity a live actor from creation (the library's `inspect` option). */
export function materialized(): InspectedSubject {
  const { observe } = inspector();
  const manager = createExpireManager({ inspect: observe });
  return {
    create: (id, deadline, close) => manager.new(id, deadline, close),
    cycle: (id, deadline, close) => {
      manager.stop(id);
      manager.new(id, deadline, close);
    },
    dispose: () => manager.dispose(),
  };
}

/** Records, plus the inspection events XState would emit for each step (prototype). */
export function synthetic(): InspectedSubject {
  const { observe } = inspector();
  const manager: ExpireManager = createExpireManager();
  const refs = new Map<string, { id: string; sessionId: string; _parent: unknown; snapshot: unknown }>();
  let session = 0;
  const emit = (id: string, eventType: string) => {
    let ref = refs.get(id);
    if (ref === undefined) {
      ref = { id, sessionId: `x:${session++}`, _parent: manager.actor, snapshot: undefined };
      refs.set(id, ref);
      observe({ type: '@xstate.actor', actorRef: ref, rootId: manager.actor.sessionId } as unknown as InspectionEvent);
    }
    const state = manager.state(id);
    if (state === undefined) return;
    const event = { type: eventType };
    observe({ type: '@xstate.event', actorRef: ref, sourceRef: undefined, event, rootId: '' } as unknown as InspectionEvent);
    ref.snapshot = expirationMachine.resolveState({
      value: state === 'expired' ? { expired: 'queued' } : state,
      context: { id, deadline: 0, close: () => {}, clock: manager.actor.system._clock, onCloseError: () => {}, generation: 0 } as never,
    });
    observe({ type: '@xstate.snapshot', actorRef: ref, snapshot: ref.snapshot, event, rootId: '' } as unknown as InspectionEvent);
  };
  return {
    create: (id, deadline, close) => {
      manager.new(id, deadline, close);
      emit(id, 'xstate.init');
    },
    cycle: (id, deadline, close) => {
      manager.stop(id);
      emit(id, 'stop');
      manager.new(id, deadline, close);
      emit(id, 'renew');
    },
    dispose: () => manager.dispose(),
  };
}
