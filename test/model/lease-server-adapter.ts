/**
 * A model adapter for the seed-shaped lease server (test/support/expire-server.ts),
 * written as a user of `xstate-expire/testing` would: the model's events are the
 * server's updates, the clock, and the executor its closes run on. It takes every
 * event of the default paths, so `generateModelPaths()` runs on it as it is.
 */
import { SimulatedClock } from 'xstate';
import { CLOSE_TIMED_OUT, type ExpireManager, createExpireManager } from '../../src/index.js';
import type { ModelAdapter, Observation } from '../../src/testing/index.js';
import { deferred, flush } from '../helpers.js';
import { Backend, ExpireServer } from '../support/expire-server.js';
import { CLOSE_FAILED, GatedExecutor, REFUSED } from './manager-adapter.js';

/** A backend whose opens wait on the update the test is running, and whose closes wait to be settled. */
export class HeldBackend extends Backend {
  /** The backend call of the update in flight: resolve it (success) or reject it (failure). */
  update = deferred();
  /** How many times a lease was closed (called, settled or not): each attempt is one. */
  closeCalls = 0;
  /** The last close called, until the test settles or fails it (a timed-out one stays: settling it changes nothing). */
  running: ReturnType<typeof deferred<void>> | undefined;
  readonly calls: Array<ReturnType<typeof deferred<void>>> = [];
  override async open(): Promise<void> {
    await this.update.promise;
  }
  override close(): Promise<void> {
    this.closeCalls++;
    this.running = deferred();
    this.calls.push(this.running);
    return this.running.promise;
  }
  /** Settles the last close, or makes it fail. */
  end(how: 'settle' | 'fail'): void {
    if (how === 'settle') this.running?.resolve();
    else this.running?.reject(CLOSE_FAILED);
    this.running = undefined;
  }
}

/** What a lease server is made with: the seed's constructor. */
export type ServerClass = new (
  manager: ExpireManager,
  now: () => number,
  ttl: number,
  backend: HeldBackend,
  closeExecutor: GatedExecutor,
) => ExpireServer;

interface World {
  clock: SimulatedClock;
  manager: ExpireManager;
  backend: HeldBackend;
  executor: GatedExecutor;
  server: ExpireServer;
  /** The update in flight (the model's `stop`), settled by `start` or `renew`. */
  updating: Promise<void> | undefined;
  errors: unknown[];
}

/**
 * The adapter for a server of class `Server`. With `seen: 'minimal'` it reports
 * only what any integration can see (live, closes), not the manager's state.
 */
export function leaseServerAdapter(Server: ServerClass, seen: 'full' | 'minimal' = 'full'): ModelAdapter<World> {
  /** Runs a whole update (no update in flight): it succeeds or fails at once. */
  const whole = async (world: World, succeeds: boolean) => {
    world.backend.update = deferred();
    if (succeeds) world.backend.update.resolve();
    else world.backend.update.reject(new Error('backend down'));
    await world.server.request('e').catch(() => {});
  };
  /** Settles the update in flight. */
  const settle = async (world: World, succeeds: boolean) => {
    if (succeeds) world.backend.update.resolve();
    else world.backend.update.reject(new Error('backend down'));
    await world.updating;
    world.updating = undefined;
  };
  return {
    async setup(path) {
      const clock = new SimulatedClock();
      const errors: unknown[] = [];
      // The path's retry policy and close timeout, for every lease the server opens, and its pause timeout.
      const manager = createExpireManager({
        clock,
        onCloseError: (_id, error) => errors.push(error),
        retry: path.retry,
        closeTimeoutMs: path.closeTimeoutMs,
        pauseTimeoutMs: path.pauseTimeoutMs,
      });
      const backend = new HeldBackend();
      const executor = new GatedExecutor();
      const server = new Server(manager, () => clock.now(), path.ttlMs, backend, executor);
      const world: World = { clock, manager, backend, executor, server, updating: undefined, errors };
      await whole(world, true); // `new`: the lease is opened with the path's TTL
      return world;
    },

    async perform(world, event, step) {
      const { manager, clock, backend } = world;
      switch (event) {
        case 'stop': // an update starts and waits on the backend
          // A second request would queue behind it on the id's executor. The model's second update is one
          // that joins the pause (another holder of the lease, say): it stops the lease itself, which
          // restarts the pause's timeout; the update in flight still ends the pause.
          if (world.updating) {
            manager.stop('e');
            break;
          }
          backend.update = deferred();
          world.updating = world.server.request('e').catch(() => {});
          break;
        case 'start': // it fails (with none in flight: a whole update that fails)
          await (world.updating ? settle(world, false) : whole(world, false));
          break;
        case 'renew': // it succeeds (with none in flight: a whole update that succeeds)
          await (world.updating ? settle(world, true) : whole(world, true));
          break;
        case 'expire':
          manager.expire('e');
          break;
        case 'delete':
          return manager.delete('e');
        case 'dispose':
          void manager.dispose();
          break;
        case 'shutdown':
          void manager.dispose({ close: true });
          break;
        case 'retry': // an operator sends a failed lease back to closing
          return manager.retry('e');
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
        case 'refuse':
          world.executor.refuse();
          break;
        case 'settleClose':
          backend.end('settle');
          break;
        case 'failClose':
          backend.end('fail');
          break;
        default:
          throw new Error(`not a lease server event: ${event}`);
      }
      await flush();
      clock.increment(0); // a SimulatedClock fires a due timer only when it moves
      await flush();
      return undefined;
    },

    observe({ manager, backend, errors }): Observation {
      const unexpected = errors.filter((error) => error !== REFUSED && error !== CLOSE_FAILED && error !== CLOSE_TIMED_OUT);
      if (unexpected.length) throw new Error(`close errors: ${unexpected.join(', ')}`);
      const live = manager.has('e');
      return seen === 'full'
        ? { live, closes: backend.closeCalls, state: manager.state('e') }
        : { live, closes: backend.closeCalls };
    },

    async teardown(world) {
      world.backend.update.reject(new Error('torn down'));
      await world.updating;
      world.backend.calls.forEach((call) => call.resolve());
      await world.manager.dispose();
    },
  };
}
