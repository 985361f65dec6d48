/**
 * The worked example of docs/testing.md: the model's paths run against a
 * user's own server (a lease registry on ExpireProtocol), not against the
 * library's facade. Events the server cannot trigger by itself happen
 * automatically: its real executors run closes at once, and closes settle.
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { type ExpireManager, type ExpireProtocol, createExpireManager, createExpireProtocol } from '../../src/index.js';
import { type ModelAdapter, type ModelEventName, generateModelPaths, runModelPaths } from '../../src/testing/index.js';
import { deferred, flush } from '../helpers.js';

const TTL = 1000;

/** A tiny registry: `register` opens or refreshes a lease, `unregister` closes it. */
class Registry {
  readonly closed: string[] = [];
  /** The next register waits for this backend call; tests settle it. */
  backend = deferred<{ id: string } | 'fail-after'>();
  constructor(
    readonly protocol: ExpireProtocol,
    readonly now: () => number,
  ) {}

  register(id: string): Promise<void> {
    return this.protocol.update(id, async () => {
      const result = await this.backend.promise;
      // An error after the backend accepted the update: the arming fails, the lease closes (R2).
      const expiresAt = result === 'fail-after' ? Number.NaN : this.now() + TTL;
      return { value: undefined, id: result === 'fail-after' ? id : result.id, expiresAt, close: () => void this.closed.push(id) };
    });
  }

  unregister(id: string): Promise<boolean> {
    return this.protocol.close(id, () => {});
  }
}

interface World {
  clock: SimulatedClock;
  manager: ExpireManager;
  registry: Registry;
  /** A register in flight (the model's `stop`): settle `registry.backend` to finish it. */
  updating: Promise<void> | undefined;
  /** The deadline of the last successful register. */
  deadline: number;
}

const adapter: ModelAdapter<World> = {
  async setup() {
    const clock = new SimulatedClock();
    const manager = createExpireManager({ clock });
    const registry = new Registry(createExpireProtocol(manager), () => clock.now());
    registry.backend.resolve({ id: 'e' });
    await registry.register('e');
    return { clock, manager, registry, updating: undefined, deadline: TTL };
  },

  async perform(world, event: ModelEventName) {
    const { registry, clock } = world;
    const settleUpdate = async (result: { id: string } | 'fail-after' | Error) => {
      if (result instanceof Error) registry.backend.reject(result);
      else registry.backend.resolve(result);
      await world.updating?.catch(() => {});
      world.updating = undefined;
    };
    switch (event) {
      case 'renew': // a refresh that succeeds: the one in flight, or a new one
        world.deadline = clock.now() + TTL;
        if (world.updating) await settleUpdate({ id: 'e' });
        else {
          registry.backend = deferred();
          registry.backend.resolve({ id: 'e' });
          await registry.register('e');
        }
        break;
      case 'stop': // a refresh starts and waits on the backend
        registry.backend = deferred();
        world.updating = registry.register('e');
        break;
      case 'start': // ... and fails: the old deadline holds (R1.2)
        await settleUpdate(new Error('backend down'));
        break;
      case 'expire': // ... succeeds, but something after it fails (R2)
        await settleUpdate('fail-after');
        break;
      case 'delete':
        // Paused: the refresh returns a new id, retiring 'e'. Active: an unregister.
        if (world.updating) await settleUpdate({ id: 'e2' });
        else await registry.unregister('e');
        break;
      case 'dispose':
        await world.manager.dispose();
        break;
      case 'deadline':
        clock.set(Math.max(clock.now(), world.deadline));
        break;
    }
    await flush();
    return undefined;
  },

  observe({ manager, registry }) {
    return {
      live: manager.has('e'),
      state: manager.state('e'),
      closes: registry.closed.filter((id) => id === 'e').length,
    };
  },

  async teardown({ manager }) {
    await manager.dispose();
  },
};

describe('the model against a user integration (docs/testing.md)', () => {
  it('every path holds on the registry', async () => {
    const paths = generateModelPaths({
      depth: 5,
      events: ['renew', 'stop', 'start', 'expire', 'delete', 'dispose', 'deadline'],
      automatic: ['runClose', 'settleClose'],
    });
    expect(paths.length).toBeGreaterThan(20);
    expect(await runModelPaths(paths, adapter)).toBe(paths.length);
  });
});
