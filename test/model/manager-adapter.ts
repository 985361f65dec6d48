import { SimulatedClock } from 'xstate';
import { CLOSE_TIMED_OUT, type ExpireManager, SerialExecutor, createExpireManager } from '../../src/index.js';
import { type ExpirationActorRef } from '../../src/index.js';
import { type ModelAdapter, modelState } from '../../src/testing/index.js';
import { deferred, flush } from '../helpers.js';

/** Thrown by {@link GatedExecutor.refuse}: the report the model's `refuse` expects. */
export const REFUSED = new Error('executor refused the task');
/** What the close rejects with on the model's `failClose`. */
export const CLOSE_FAILED = new Error('the close failed');

/**
 * A serial executor that holds every task until the test lets the waiting ones
 * run, or refuses them. Each close attempt (a retry too) waits for its own `run`.
 */
export class GatedExecutor {
  readonly #serial = new SerialExecutor();
  readonly #waiting: Array<{ run: () => void; refuse: () => void }> = [];
  asyncExec(task: () => unknown): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({
        run: () => void this.#serial.asyncExec(task).then(() => resolve(), reject),
        refuse: () => reject(REFUSED),
      });
    });
  }
  /** Lets the tasks waiting now run, one at a time; later ones wait for the next call. */
  open(): void {
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
  /** The entity's id and TTL: the path's. */
  id: string;
  ttlMs: number;
  close: (signal: AbortSignal) => Promise<void>;
  /** Every call of the close (each attempt), with its signal and how to end it. */
  calls: Array<{ signal: AbortSignal; resolve: () => void; reject: (error: unknown) => void }>;
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
    // The path's retry policy and close timeout, for every `new` (renewals included), and its pause timeout.
    const manager = createExpireManager({
      clock,
      onCloseError: (_id, error) => errors.push(error),
      retry: path.retry,
      closeTimeoutMs: path.closeTimeoutMs,
      pauseTimeoutMs: path.pauseTimeoutMs,
    });
    const world: World = {
      clock,
      manager,
      executor: new GatedExecutor(),
      id: path.id,
      ttlMs: path.ttlMs,
      close: (signal) => {
        const running = deferred();
        world.calls.push({ signal, resolve: running.resolve, reject: running.reject });
        return running.promise;
      },
      calls: [],
      errors,
      actor: undefined,
    };
    manager.new(path.id, clock.now() + path.ttlMs, world.close, { executor: world.executor });
    if (engine === 'actors') world.actor = manager.actorOf(path.id);
    return world;
  },

  async perform(world, event, step) {
    const { clock, manager, id } = world;
    // The attempt that runs: the last call, unless it has ended (settled, failed, timed out or disposed).
    const running = world.calls.at(-1)?.signal.aborted === false ? world.calls.at(-1) : undefined;
    switch (event) {
      case 'renew':
        manager.new(id, clock.now() + world.ttlMs, world.close, { executor: world.executor });
        break;
      case 'stop':
        return manager.stop(id);
      case 'delete':
        return manager.delete(id);
      case 'start':
      case 'expire':
        manager[event](id);
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
      case 'retry':
        return manager.retry(id);
      case 'tick':
      case 'deadline':
      case 'rearm':
      case 'closeTimeout':
      case 'backoff':
      case 'pauseTimeout':
        clock.increment(step.ms!);
        break;
      case 'runClose':
        world.executor.open();
        break;
      case 'settleClose':
        running?.resolve();
        break;
      case 'failClose':
        running?.reject(CLOSE_FAILED);
        break;
    }
    await flush();
    clock.increment(0);
    await flush();
    return undefined;
  },

  observe({ manager, id, calls, errors, actor }) {
    const failures = [CLOSE_FAILED, CLOSE_TIMED_OUT];
    const unexpected = errors.filter((error) => error !== REFUSED && !failures.includes(error as Error));
    if (unexpected.length) throw new Error(`close errors: ${unexpected.join(', ')}`);
    return {
      live: manager.has(id),
      state: manager.state(id),
      closes: calls.length,
      closeSignalAborted: calls.at(-1)?.signal.aborted,
      closeFailures: errors.filter((error) => failures.includes(error as Error)).length,
      attempts: manager.get(id)?.attempts,
      ...(actor && { modelState: modelState(actor.getSnapshot()) }),
    };
  },

  async teardown({ manager, calls }) {
    calls.forEach((call) => call.resolve());
    await manager.dispose();
  },
});
