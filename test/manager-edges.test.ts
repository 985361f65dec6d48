/**
 * What a user of the manager relies on at the edges: why a close signal
 * aborted, which executor a renewal closes on, what the manager shows while a
 * close runs, and which clocks it takes.
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  CLOSE_SETTLED,
  type Executor,
  MANAGER_DISPOSED,
  SerialExecutor,
  createExpireManager,
} from '../src/index.js';
import { deferred, flush, heldExecutor, managerOnSimulatedClock } from './helpers.js';

/** An executor that records which entity's tasks it ran. */
function recordingExecutor(name: string, log: string[]): Executor {
  const serial = new SerialExecutor();
  return {
    asyncExec: (task) => {
      log.push(name);
      return serial.asyncExec(task) as Promise<void>;
    },
  };
}

describe('the close signal’s reason', () => {
  for (const engine of ['records', 'actors'] as const) {
    it(`tells a settled close from a disposed one (${engine})`, async () => {
      const { clock, manager, closes, close } = managerOnSimulatedClock({ inspect: undefined });
      const running = deferred();
      manager.new('settles', 10, close('settles'));
      manager.new('disposed', 10, close('disposed', () => running.promise));
      if (engine === 'actors') ['settles', 'disposed'].forEach((id) => manager.actorOf(id));
      clock.increment(10);
      await flush();
      const [settled, disposed] = closes.map((c) => c.signal);
      expect(settled!.aborted).toBe(true);
      expect(settled!.reason).toBe(CLOSE_SETTLED);
      expect(disposed!.aborted).toBe(false);
      const disposal = manager.dispose();
      expect(disposed!.aborted).toBe(true);
      expect(disposed!.reason).toBe(MANAGER_DISPOSED);
      running.resolve();
      await disposal;
      expect(disposed!.reason).toBe(MANAGER_DISPOSED); // settling later does not change it
    });
  }

  it('the two reasons are distinct, named errors that cannot be changed', () => {
    expect(CLOSE_SETTLED).not.toBe(MANAGER_DISPOSED);
    expect(CLOSE_SETTLED).toBeInstanceOf(Error);
    expect(MANAGER_DISPOSED).toBeInstanceOf(Error);
    expect([CLOSE_SETTLED.name, MANAGER_DISPOSED.name]).toEqual(['CloseSettled', 'ManagerDisposed']);
    expect(CLOSE_SETTLED.message).toMatch(/settled/);
    expect(MANAGER_DISPOSED.message).toMatch(/disposed/);
    expect(Object.isFrozen(CLOSE_SETTLED) && Object.isFrozen(MANAGER_DISPOSED)).toBe(true);
  });
});

describe('renewing a live id with a different executor', () => {
  it('the close runs on the new executor, not the old one', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock({ inspect: undefined });
    const ran: string[] = [];
    manager.new('a', 10, close('old'), { executor: recordingExecutor('old', ran) });
    manager.new('a', 20, close('new'), { executor: recordingExecutor('new', ran) });
    clock.increment(20);
    await flush();
    expect(ran).toEqual(['new']);
    expect(closes.map((c) => c.id)).toEqual(['new']);
  });

  it('while paused, and when its close was already queued on the old one', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock({ inspect: undefined });
    const ran: string[] = [];
    const { executor: blocked, release } = heldExecutor();
    const old: Executor = { asyncExec: (task) => (ran.push('old'), blocked.asyncExec(task) as Promise<void>) };
    manager.new('a', 10, close('old'), { executor: old });
    clock.increment(10); // queued on the old executor, behind the held task
    manager.new('a', 30, close('new'), { executor: recordingExecutor('new', ran) });
    manager.stop('a');
    manager.new('a', 40, close('newer'), { executor: recordingExecutor('newer', ran) });
    release();
    await flush();
    expect(closes).toEqual([]); // the stale task on the old executor returned at once
    clock.increment(30);
    await flush();
    expect(ran).toEqual(['old', 'newer']);
    expect(closes.map((c) => c.id)).toEqual(['newer']);
  });

  it('renewed without an executor, the close runs on the manager’s default one for the id', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock({ inspect: undefined });
    const ran: string[] = [];
    manager.new('a', 10, close('old'), { executor: recordingExecutor('old', ran) });
    manager.new('a', 20, close('new'));
    clock.increment(20);
    await flush();
    expect(ran).toEqual([]);
    expect(closes.map((c) => c.id)).toEqual(['new']);
  });
});

describe('closes of one id on the manager’s default executor', () => {
  it('never overlap, however many queue up while one runs', async () => {
    const { clock, manager, close } = managerOnSimulatedClock({ inspect: undefined });
    const log: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const closing = (n: number) => close('x', async () => {
      log.push(`${n}:start`);
      await gates[n]!.promise;
      log.push(`${n}:end`);
    });
    manager.new('x', 10, closing(0));
    clock.increment(10);
    await flush();
    manager.new('x', 20, closing(1));
    clock.increment(10);
    await flush();
    expect(log).toEqual(['0:start']); // 1 waits behind 0
    gates[0]!.resolve();
    await flush();
    expect(log).toEqual(['0:start', '0:end', '1:start']);
    manager.new('x', 30, closing(2));
    clock.increment(10);
    await flush();
    expect(log).toEqual(['0:start', '0:end', '1:start']); // 2 waits behind 1
    gates[1]!.resolve();
    gates[2]!.resolve();
    await flush();
    expect(log).toEqual(['0:start', '0:end', '1:start', '1:end', '2:start', '2:end']);
    expect(manager.actor.getSnapshot().context.engine.executorCount).toBe(0);
  });
});

describe('size and has while a close runs', () => {
  it('a queued close still counts; a running one does not, and the id is free for a new entity', async () => {
    const { clock, manager, close } = managerOnSimulatedClock({ inspect: undefined });
    const { executor, release } = heldExecutor();
    const running = deferred();
    manager.new('a', 10, close('a', () => running.promise), { executor });
    manager.new('b', 100, close('b'));
    clock.increment(10);
    await flush();
    expect([manager.size(), manager.has('a'), manager.state('a')]).toEqual([2, true, 'expired']);
    release();
    await flush();
    expect([manager.size(), manager.has('a'), manager.state('a')]).toEqual([1, false, undefined]);
    expect(manager.stop('a')).toBe(false);
    expect(manager.delete('a')).toBe(false);
    manager.new('a', 50, close('a2'));
    expect([manager.size(), manager.has('a'), manager.state('a')]).toEqual([2, true, 'active']);
    running.resolve();
    await flush();
    expect([manager.size(), manager.has('a')]).toEqual([2, true]); // the old close settling leaves the new one alone
    expect(manager.actor.getSnapshot().context.toJSON()).toEqual({ size: 2, ids: ['b', 'a'], closing: 0 });
  });

  it('the manager’s view counts the closes in flight', async () => {
    const { clock, manager, close } = managerOnSimulatedClock({ inspect: undefined });
    const running = deferred();
    manager.new('a', 10, close('a', () => running.promise));
    clock.increment(10);
    await flush();
    expect(manager.actor.getSnapshot().context.toJSON()).toEqual({ size: 0, ids: [], closing: 1 });
    running.resolve();
    await flush();
    expect(manager.actor.getSnapshot().context.toJSON()).toEqual({ size: 0, ids: [], closing: 0 });
  });
});

describe('the manager’s view for inspectors and logs', () => {
  it('shows the size and only the first 20 ids, however many there are', () => {
    const { manager, close } = managerOnSimulatedClock({ inspect: undefined });
    const ids = Array.from({ length: 25 }, (_, i) => `id${i}`);
    for (const id of ids) manager.new(id, 100, close(id));
    expect(manager.actor.getSnapshot().context.toJSON()).toEqual({ size: 25, ids: ids.slice(0, 20), closing: 0 });
  });
});

describe('an inspected manager', () => {
  it('shows every call as an event of the manager actor', () => {
    const calls: string[] = [];
    const { manager, close } = managerOnSimulatedClock({
      inspect: (e) => {
        if (e.type === '@xstate.event' && typeof (e.event as { id?: unknown }).id === 'string') {
          calls.push(`${e.event.type}:${(e.event as { id?: string }).id}`);
        }
      },
    });
    manager.new('a', 100, close('a'));
    manager.stop('a');
    manager.start('a');
    manager.stop('b');
    manager.delete('a');
    expect(calls).toEqual(['new:a', 'stop:a', 'start:a', 'delete:a']);
  });
});

describe('the manager actor', () => {
  it('ignores events it does not know, even shaped like a child’s done event', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock({ inspect: undefined });
    manager.new('a', 10, close('a'));
    const child = manager.actorOf('a')!;
    manager.actor.send({ type: 'unknown' } as never);
    manager.actor.send({ type: 'not.done', output: { ref: child, closed: false } } as never);
    expect(manager.actor.getSnapshot().status).toBe('active');
    expect(manager.has('a')).toBe(true);
    expect(manager.actorOf('a')).toBe(child);
    clock.increment(10);
    await flush();
    expect(closes.map((c) => c.id)).toEqual(['a']);
    expect(manager.has('a')).toBe(false);
  });

  it('is active until disposed, then done', async () => {
    const { manager } = managerOnSimulatedClock({ inspect: undefined });
    expect(manager.actor.getSnapshot().status).toBe('active');
    await manager.dispose();
    expect(manager.actor.getSnapshot().status).toBe('done');
  });
});

describe('the clock option', () => {
  const clock = new SimulatedClock();
  const parts = {
    now: () => clock.now(),
    setTimeout: (fn: () => void, ms: number) => clock.setTimeout(fn, ms),
    clearTimeout: (id: unknown) => clock.clearTimeout(id as number),
  };

  for (const method of ['now', 'setTimeout', 'clearTimeout'] as const) {
    it(`is rejected without ${method}()`, () => {
      const { [method]: _missing, ...rest } = parts;
      expect(() => createExpireManager({ clock: rest as never })).toThrow(
        new TypeError(`createExpireManager: options.clock must have a ${method}() method`),
      );
    });
  }

  it('is taken with all three, plain functions included', async () => {
    const manager = createExpireManager({ clock: parts });
    let closed = 0;
    manager.new('a', clock.now() + 10, () => void closed++);
    clock.increment(10);
    await flush();
    expect(closed).toBe(1);
  });
});

describe('options from JavaScript', () => {
  it('null options are no options, for new and dispose', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock({ inspect: undefined });
    manager.new('a', 10, close('a'), null as never);
    clock.increment(10);
    await flush();
    expect(closes.map((c) => c.id)).toEqual(['a']);
    manager.new('b', 20, close('b'));
    await manager.dispose(null as never);
    expect(manager.disposed).toBe(true);
    expect(closes.map((c) => c.id)).toEqual(['a']); // a plain dispose: b is dropped, not closed
  });
});

describe('the signal option after dispose({ close: true })', () => {
  it('aborting it while the closes run aborts none of them: they settle, each once', async () => {
    const controller = new AbortController();
    const { clock, manager, closes, close } = managerOnSimulatedClock({ inspect: undefined, signal: controller.signal });
    const running = deferred();
    manager.new('a', 10, close('a', () => running.promise));
    manager.new('b', 100, close('b'));
    clock.increment(10);
    await flush();
    const disposing = manager.dispose({ close: true });
    controller.abort();
    await flush();
    expect(closes.map((c) => [c.id, c.signal.aborted])).toEqual([
      ['a', false],
      ['b', true],
    ]);
    running.resolve();
    await disposing;
    expect(closes[0]!.signal.reason).toBe(CLOSE_SETTLED);
  });
});

