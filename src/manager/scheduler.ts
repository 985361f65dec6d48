import type { ActorSystem, AnyActorRef, EventObject } from 'xstate';

/** One pending delayed event: its id and the clock's timer handle. */
interface Pending {
  id: string;
  handle: unknown;
}

/** What {@link installScheduler} hands back. */
export interface InstalledScheduler {
  /** The clock's timer handle of the delayed event `id` that `source` has pending, if any. */
  handleOf(source: AnyActorRef, id: string): unknown;
}

/**
 * Replaces an actor system's scheduler with one built for many actors, each
 * with few delayed events:
 *
 * - stopping an actor cancels its own delayed events in O(those events); XState's
 *   scheduler scans every scheduled event of the system (`cancelAll`), so with N
 *   live expirations each delete, replace or close cost O(N) and disposing N
 *   cost O(N²);
 * - a pending event costs one small record kept with its actor, instead of a
 *   string-keyed entry in the system snapshot.
 *
 * Delayed events are not persisted in the system snapshot: the manager holds
 * live references and is not persistable anyway.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function installScheduler(system: ActorSystem<any>, clock: ActorSystem<any>['_clock'] = system._clock): InstalledScheduler {
  // Most actors have one pending event: keep it bare, a Map only beyond one.
  const pendingByActor = new WeakMap<AnyActorRef, Pending | Map<string, unknown>>();
  // XState relays with the source so that inspectors see who sent a delayed event.
  const relay = (system as { _relay?: (s: AnyActorRef, t: AnyActorRef, e: EventObject) => void })._relay;

  const take = (source: AnyActorRef, id: string): unknown => {
    const pending = pendingByActor.get(source);
    if (pending === undefined) return undefined;
    if (pending instanceof Map) {
      const handle = pending.get(id);
      pending.delete(id);
      return handle;
    }
    if (pending.id !== id) return undefined;
    pendingByActor.delete(source);
    return pending.handle;
  };

  const { scheduler } = system;
  // Stryker disable next-line MethodExpression: any unique default id will do
  scheduler.schedule = (source, target, event, delay, id = Math.random().toString(36).slice(2)) => {
    const previous = take(source, id);
    // Stryker disable next-line ConditionalExpression: clearTimeout(undefined) is ignored
    if (previous !== undefined) clock.clearTimeout(previous);
    const handle = clock.setTimeout(() => {
      take(source, id);
      // Stryker disable next-line ConditionalExpression: every supported XState has system._relay
      if (relay) relay(source, target, event);
      else target.send(event);
    }, delay);
    const pending = pendingByActor.get(source);
    if (pending === undefined) pendingByActor.set(source, { id, handle });
    else if (pending instanceof Map) pending.set(id, handle);
    else pendingByActor.set(source, new Map([[pending.id, pending.handle], [id, handle]]));
  };
  scheduler.cancel = (source, id) => {
    const handle = take(source, id);
    // Stryker disable next-line ConditionalExpression: clearTimeout(undefined) is ignored
    if (handle !== undefined) clock.clearTimeout(handle);
  };
  scheduler.cancelAll = (source) => {
    const pending = pendingByActor.get(source);
    if (pending === undefined) return;
    pendingByActor.delete(source);
    if (pending instanceof Map) for (const handle of pending.values()) clock.clearTimeout(handle);
    else clock.clearTimeout(pending.handle);
  };
  return {
    handleOf: (source, id) => {
      const pending = pendingByActor.get(source);
      if (pending instanceof Map) return pending.get(id);
      return pending?.id === id ? pending.handle : undefined;
    },
  };
}
