import { SimulatedClock } from 'xstate';
import { type ExpireManager, SerialExecutor, createExpireManager } from '../../src/index.js';
import { type ExpirationActorRef } from '../../src/index.js';
import { type ModelAdapter, modelState } from '../../src/testing/index.js';
import { deferred, flush } from '../helpers.js';

/** Thrown by {@link GatedExecutor.refuse}: the report the model's `refuse` expects. */
export const REFUSED = new Error('executor refused the task');

/**
 * A serial executor that holds every task until the test opens its gate, or
 * refuses the task at the head of its queue.
 */
export class GatedExecutor {
  readonly #serial = new SerialExecutor();
  readonly #waiting: Array<{ run: () => void; refuse: () => void }> = [];
  #open = false;
  asyncExec(task: () => unknown): Promise<void> {
    if (this.#open) return this.#serial.asyncExec(task) as Promise<void>;
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({
        run: () => void this.#serial.asyncExec(task).then(() => resolve(), reject),
        refuse: () => reject(REFUSED),
      });
    });
  }
  /** Lets the queued tasks run, one at a time, and every later one. */
  open(): void {
    this.#open = true;
    for (let next = this.#waiting.shift(); next; next = this.#waiting.shift()) next.run();
  }
  /** Refuses every task still waiting: stale ones (of an older generation) must change nothing. */
  refuse(): void {
    for (let next = this.#waiting.shift(); next; next = this.#waiting.shift()) next.refuse();
  }
}

interface World {
  clock: SimulatedClock;
  manager: ExpireManager;
  executor: GatedExecutor;
  /** The entity's TTL: the path's. */
  ttlMs: number;
  close: (signal: AbortSignal) => Promise<void>;
  signals: AbortSignal[];
  settles: Array<() => void>;
  errors: unknown[];
  /** The entity as a live actor, on the actor engine. */
  actor: ExpirationActorRef | undefined;
}

/**
 * Drives the public facade: each model event is an API call, a clock move (by
 * the step's `ms`) or an executor step. Every step ends with `clock.increment(0)`:
 * a `SimulatedClock` fires a timer only when it moves, and an expiration
 * resumed after its deadline arms one of 0 ms that must fire at once. On the `actors` engine the entity is materialized right after
 * `new` (`actorOf`), and its actor's full state is checked at every step too.
 */
export const managerAdapter = (engine: 'records' | 'actors'): ModelAdapter<World> => ({
  setup(path) {
    const clock = new SimulatedClock();
    const errors: unknown[] = [];
    const manager = createExpireManager({ clock, onCloseError: (_id, error) => errors.push(error) });
    const world: World = {
      clock,
      manager,
      executor: new GatedExecutor(),
      ttlMs: path.ttlMs,
      close: (signal) => {
        world.signals.push(signal);
        const running = deferred();
        world.settles.push(running.resolve);
        return running.promise;
      },
      signals: [],
      settles: [],
      errors,
      actor: undefined,
    };
    manager.new('e', clock.now() + path.ttlMs, world.close, { executor: world.executor });
    if (engine === 'actors') world.actor = manager.actorOf('e');
    return world;
  },

  async perform(world, event, step) {
    const { clock, manager } = world;
    switch (event) {
      case 'renew':
        manager.new('e', clock.now() + world.ttlMs, world.close, { executor: world.executor });
        break;
      case 'stop':
        return manager.stop('e');
      case 'delete':
        return manager.delete('e');
      case 'start':
      case 'expire':
        manager[event]('e');
        break;
      case 'dispose':
        void manager.dispose();
        break;
      case 'shutdown':
        void manager.dispose({ close: true });
        break;
      case 'refuse':
        world.executor.refuse();
        break;
      case 'tick':
      case 'deadline':
      case 'rearm':
        clock.increment(step.ms!);
        break;
      case 'runClose':
        world.executor.open();
        break;
      case 'settleClose':
        world.settles.shift()?.();
        break;
    }
    await flush();
    clock.increment(0);
    await flush();
    return undefined;
  },

  observe({ manager, signals, errors, actor }) {
    const unexpected = errors.filter((error) => error !== REFUSED);
    if (unexpected.length) throw new Error(`close errors: ${unexpected.join(', ')}`);
    return {
      live: manager.has('e'),
      state: manager.state('e'),
      closes: signals.length,
      closeSignalAborted: signals.at(-1)?.aborted,
      ...(actor && { modelState: modelState(actor.getSnapshot()) }),
    };
  },

  async teardown({ manager, settles }) {
    settles.forEach((settle) => settle());
    await manager.dispose();
  },
});
