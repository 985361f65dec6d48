import type { ActorSystem, AnyActorRef } from 'xstate';

/**
 * Makes stopping an actor O(its own delayed events) instead of O(all delayed
 * events in the system).
 *
 * XState's scheduler cancels a stopping actor's delayed events by scanning every
 * scheduled event of the system (`cancelAll`). Every expiration that ends is a
 * stopping actor and every active one has a pending deadline, so with N live
 * expirations each delete, replace or close cost O(N) and disposing N cost
 * O(N²). This keeps an index of scheduled ids per actor and cancels only those;
 * `schedule` and `cancel` keep their own behaviour.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function indexScheduler(system: ActorSystem<any>): void {
  const { scheduler } = system;
  const schedule = scheduler.schedule.bind(scheduler);
  const cancel = scheduler.cancel.bind(scheduler);
  // Most actors have one pending delayed event: keep it as a string, a Set only beyond one.
  const idsByActor = new WeakMap<AnyActorRef, string | Set<string>>();

  scheduler.schedule = (source, target, event, delay, id) => {
    // XState's own default id, chosen here so the index knows it.
    id ??= Math.random().toString(36).slice(2);
    schedule(source, target, event, delay, id);
    const ids = idsByActor.get(source);
    if (ids === undefined || ids === id) idsByActor.set(source, id);
    else if (typeof ids === 'string') idsByActor.set(source, new Set([ids, id]));
    else ids.add(id);
  };
  scheduler.cancel = (source, id) => {
    const ids = idsByActor.get(source);
    if (ids === id) idsByActor.delete(source);
    else if (typeof ids === 'object') ids.delete(id);
    cancel(source, id);
  };
  scheduler.cancelAll = (source) => {
    const ids = idsByActor.get(source);
    if (ids === undefined) return;
    idsByActor.delete(source);
    if (typeof ids === 'string') cancel(source, ids);
    else for (const id of ids) cancel(source, id);
  };
}
