/**
 * Regression tests for what adversarial use found: each failed before its fix.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  CLOSE_SETTLED,
  MANAGER_DISPOSED,
  SerialExecutor,
  createExpireManager,
  createExpireProtocol,
} from '../src/index.js';
import { deferred, flush, managerOnSimulatedClock } from './helpers.js';

describe('closes of one id never overlap on the default executor', () => {
  it('whatever deletes and re-creates happen while a close runs', async () => {
    const { clock, manager } = managerOnSimulatedClock();
    const log: string[] = [];
    const first = deferred();
    manager.new('x', 10, async () => {
      log.push('first:start');
      await first.promise;
      log.push('first:end');
    });
    clock.increment(10);
    await flush();
    expect(log).toEqual(['first:start']);
    manager.new('x', 100, () => void log.push('never'));
    expect(manager.delete('x')).toBe(true);
    manager.new('x', 20, () => void log.push('second'));
    clock.increment(10);
    await flush();
    expect(manager.state('x')).toBe('expired'); // queued behind the first close
    expect(log).toEqual(['first:start']);
    first.resolve();
    await flush();
    expect(log).toEqual(['first:start', 'first:end', 'second']);
    expect(manager.actor.getSnapshot().context.engine.executorCount).toBe(0);
  });
});

describe('every dispose() settles only when every running close has', () => {
  async function withRunningClose(start: (manager: ReturnType<typeof createExpireManager>, abort: AbortController) => void) {
    const controller = new AbortController();
    const { clock, manager, closes, close } = managerOnSimulatedClock({ signal: controller.signal });
    const running = deferred();
    manager.new('a', 10, close('a', () => running.promise));
    clock.increment(10);
    await flush();
    start(manager, controller);
    let settled = false;
    const second = manager.dispose().then(() => (settled = true));
    await flush();
    expect(settled).toBe(false);
    expect(closes[0]!.signal.reason).toBe(MANAGER_DISPOSED);
    running.resolve();
    await second;
    expect(settled).toBe(true);
  }

  it('after the signal disposed it', () => withRunningClose((_manager, controller) => controller.abort()));
  it('after a dispose nobody awaited', () => withRunningClose((manager) => void manager.dispose()));
});

describe('an executor that refuses the close', () => {
  const refusals = {
    throws: () => {
      throw new Error('no');
    },
    rejects: () => Promise.reject(new Error('no')),
  };
  for (const [how, asyncExec] of Object.entries(refusals)) {
    it(`(${how}) is reported, and the entity leaves the manager without closing`, async () => {
      const { clock, manager, closes, errors, close } = managerOnSimulatedClock();
      manager.new('a', 10, close('a'), { executor: { asyncExec } });
      clock.increment(10);
      await flush();
      expect(errors.map((e) => [e.id, String(e.error)])).toEqual([['a', 'Error: no']]);
      expect(closes).toEqual([]);
      expect(manager.size()).toBe(0);
      expect(manager.has('a')).toBe(false);
      expect(manager.stop('a')).toBe(false);
    });
  }

  it('an executor that returns no promise is not a refusal', async () => {
    const { clock, manager, closes, errors, close } = managerOnSimulatedClock();
    manager.new('a', 10, close('a'), { executor: { asyncExec: ((task: () => unknown) => void task()) as never } });
    clock.increment(10);
    await flush();
    expect(errors).toEqual([]);
    expect(closes).toHaveLength(1);
    expect(manager.size()).toBe(0);
  });

  it('a late refusal of a close that a renewal made stale changes nothing', async () => {
    const { clock, manager, errors, close } = managerOnSimulatedClock();
    const refuse = deferred();
    const executor = { asyncExec: () => refuse.promise.then(() => Promise.reject(new Error('late'))) };
    manager.new('a', 10, close('a'), { executor });
    clock.increment(10);
    manager.new('a', 100, close('a')); // renewed while the refused close was queued
    refuse.resolve();
    await flush();
    expect(errors).toHaveLength(1); // reported all the same
    expect(manager.state('a')).toBe('active');
  });
});

describe('a TTL passed where a deadline belongs', () => {
  it('is a TypeError on the real clock that says deadlines are absolute', async () => {
    const manager = createExpireManager();
    expect(() => manager.new('a', 30_000, () => {})).toThrow(/absolute.*Date\.now\(\) \+ ttl/);
    expect(manager.size()).toBe(0);
    manager.new('b', Date.now() + 30_000, () => {});
    manager.new('c', new Date(Date.now() + 30_000), () => {});
    expect(manager.size()).toBe(2);
    await manager.dispose();
  });

  it('is fine on an injected clock, whose time may start anywhere', () => {
    const { manager } = managerOnSimulatedClock();
    manager.new('a', 30_000, () => {});
    expect(manager.state('a')).toBe('active');
  });
});

describe('dispose({ close: true })', () => {
  it('closes every live entity once, with its signal, and resolves when all have settled', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    const update = deferred();
    const executor = new SerialExecutor();
    const settles: Array<() => void> = [];
    const slow = (id: string) =>
      close(id, () => {
        const done = deferred();
        settles.push(done.resolve);
        return done.promise;
      });
    const queuedExecutor = new SerialExecutor();
    const busy = deferred();
    void queuedExecutor.asyncExec(() => busy.promise); // 'queued' waits behind other work
    manager.new('active', 1000, slow('active'));
    manager.new('paused', 1000, slow('paused'), { executor });
    manager.new('queued', 10, slow('queued'), { executor: queuedExecutor });
    manager.new('closing', 10, slow('closing'));
    manager.stop('paused');
    void executor.asyncExec(() => update.promise); // the running update of 'paused'
    clock.increment(10);
    await flush();
    expect(closes.map((c) => c.id)).toEqual(['closing']);
    expect(manager.state('queued')).toBe('expired');

    let done = false;
    const disposing = manager.dispose({ close: true }).then(() => (done = true));
    await flush();
    expect(closes.map((c) => c.id).sort()).toEqual(['active', 'closing']);
    expect(() => manager.new('fresh', 2000, close('fresh'))).toThrow(/closing/);
    busy.resolve();
    await flush();
    expect(closes.map((c) => c.id).sort()).toEqual(['active', 'closing', 'queued']);
    // The paused one closes after its update, on its executor.
    update.resolve();
    await flush();
    expect(closes.map((c) => c.id).sort()).toEqual(['active', 'closing', 'paused', 'queued']);
    expect(closes.every((c) => !c.signal.aborted)).toBe(true);
    expect(done).toBe(false);
    settles.forEach((settle) => settle());
    await disposing;
    expect(closes.every((c) => c.signal.reason === CLOSE_SETTLED)).toBe(true);
    expect(manager.disposed).toBe(true);
    expect(manager.size()).toBe(0);
    clock.increment(5000);
    await flush();
    expect(closes).toHaveLength(4);
  });

  it('an update of a live entity that ends meanwhile is closed, once, not leaked; its stale close never runs', async () => {
    const { manager, closesOf, close } = managerOnSimulatedClock();
    const protocol = createExpireProtocol(manager);
    await protocol.update('a', () => ({ value: 1, expiresAt: 1000, close: close('old') }));
    const backend = deferred();
    const updating = protocol.update('a', async () => {
      await backend.promise;
      return { value: 2, expiresAt: 2000, close: close('renewal') };
    });
    await flush();
    const disposing = manager.dispose({ close: true });
    backend.resolve();
    await expect(updating).resolves.toBe(2);
    await disposing;
    expect(closesOf('old')).toHaveLength(0);
    expect(closesOf('renewal')).toHaveLength(1);
  });

  it('a plain dispose() meanwhile stops waiting: queued closes are dropped, running ones aborted', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    const gate = deferred();
    const executor = { asyncExec: async (task: () => unknown) => void (await gate.promise.then(task)) };
    const running = deferred();
    manager.new('running', 10, close('running', () => running.promise));
    manager.new('waiting', 1000, close('waiting'), { executor });
    clock.increment(10);
    await flush();
    const closing = manager.dispose({ close: true });
    const plain = manager.dispose();
    expect(closes[0]!.signal.reason).toBe(MANAGER_DISPOSED);
    gate.resolve();
    running.resolve();
    await Promise.all([closing, plain]);
    expect(closes.map((c) => c.id)).toEqual(['running']);
  });
});

describe('ExpireProtocol.update never leaves what it opened without a close', () => {
  it('refuses on a disposed manager before running the update', async () => {
    const { manager } = managerOnSimulatedClock();
    const protocol = createExpireProtocol(manager);
    await manager.dispose();
    const update = vi.fn(() => ({ value: 1, expiresAt: 100, close: () => {} }));
    await expect(protocol.update('a', update)).rejects.toThrow(/disposed/);
    expect(update).not.toHaveBeenCalled();
  });

  it('refuses an update queued before the manager was disposed, when its turn comes', async () => {
    const { manager } = managerOnSimulatedClock();
    const protocol = createExpireProtocol(manager);
    const first = deferred();
    const running = protocol.run('a', () => first.promise);
    const update = vi.fn(() => ({ value: 1, expiresAt: 100, close: () => {} }));
    const queued = protocol.update('a', update);
    await manager.dispose();
    first.resolve();
    await running;
    await expect(queued).rejects.toThrow(/disposed/);
    expect(update).not.toHaveBeenCalled();
  });

  it('refuses at once on a disposed manager, not after the work of the id still running', async () => {
    const { manager } = managerOnSimulatedClock();
    const protocol = createExpireProtocol(manager);
    const first = deferred();
    const running = protocol.run('a', () => first.promise);
    await manager.dispose();
    const update = vi.fn(() => ({ value: 1, expiresAt: 100, close: () => {} }));
    let refusal: unknown;
    void protocol.update('a', update).catch((error: unknown) => (refusal = error));
    await flush();
    // While the id's earlier work still runs.
    expect(refusal).toBeInstanceOf(TypeError);
    expect((refusal as Error).message).toMatch(/disposed/);
    first.resolve();
    await running;
    expect(update).not.toHaveBeenCalled();
  });

  const badRenewals: Array<[string, unknown, RegExp]> = [
    ['an invalid expiresAt', { value: 1, expiresAt: Number.NaN }, /renewal\.expiresAt/],
    ['an expiresAt that is a string', { value: 1, expiresAt: '100' }, /renewal\.expiresAt/],
    ['an empty id', { value: 1, expiresAt: 100, id: '' }, /renewal\.id/],
  ];
  for (const [what, fields, message] of badRenewals) {
    it(`closes the renewal once when nothing is live to force-expire: ${what}`, async () => {
      const { manager, errors } = managerOnSimulatedClock();
      const protocol = createExpireProtocol(manager);
      const signals: AbortSignal[] = [];
      const renewal = { ...(fields as object), close: (signal: AbortSignal) => void signals.push(signal) };
      await expect(protocol.update('a', () => renewal as never)).rejects.toThrow(message);
      await expect(protocol.update('a', () => renewal as never)).rejects.toBeInstanceOf(TypeError);
      expect(signals).toHaveLength(2);
      expect(signals.every((signal) => signal.reason === CLOSE_SETTLED)).toBe(true);
      expect(manager.size()).toBe(0);
      expect(errors).toEqual([]);
    });
  }

  it('a renewal that is not an object, or has no close, is a TypeError naming it', async () => {
    const { manager } = managerOnSimulatedClock();
    const protocol = createExpireProtocol(manager);
    await expect(protocol.update('a', () => undefined as never)).rejects.toThrow(/renewal \{ value, expiresAt, close, id\? \}/);
    await expect(protocol.update('a', () => ({ value: 1, expiresAt: 100 }) as never)).rejects.toThrow(/renewal\.close must be a function/);
    expect(manager.size()).toBe(0);
  });

  it('force-expires the live expiration instead, when there is one (R2)', async () => {
    const { manager, closesOf, close } = managerOnSimulatedClock();
    const protocol = createExpireProtocol(manager);
    await protocol.update('a', () => ({ value: 1, expiresAt: 1000, close: close('old') }));
    await expect(
      protocol.update('a', () => ({ value: 2, expiresAt: Number.NaN, close: close('renewal') })),
    ).rejects.toThrow(TypeError);
    await flush();
    expect(closesOf('old')).toHaveLength(1);
    expect(closesOf('renewal')).toHaveLength(0);
  });

  it('closes the renewal when the manager is disposed while the update runs, and reports its failure', async () => {
    const { manager, errors } = managerOnSimulatedClock();
    const protocol = createExpireProtocol(manager);
    const backend = deferred();
    const failure = new Error('close failed');
    const close = vi.fn(() => Promise.reject(failure));
    const updating = protocol.update('a', async () => {
      await backend.promise;
      return { value: 1, expiresAt: 100, close };
    });
    await flush();
    await manager.dispose();
    backend.resolve();
    await expect(updating).rejects.toThrow(/disposed/);
    expect(close).toHaveBeenCalledTimes(1);
    expect(errors).toEqual([{ id: 'a', error: failure }]);
  });
});
