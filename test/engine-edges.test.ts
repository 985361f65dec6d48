/**
 * The engine under what a user can do to it: executors that run at once,
 * renewals racing a close queued before materialization, `dispose({ close: true })`
 * seen from the manager, the engine built from another table, and the clocks.
 */
import { SimulatedClock, setup } from 'xstate';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Executor, compileMachine, createExpireManager, createExpireProtocol, realClock } from '../src/index.js';
import { ExpireEngine } from '../src/manager/engine.js';
import { installScheduler } from '../src/manager/scheduler.js';
import { TimerHeap } from '../src/manager/timer-heap.js';
import { deferred, flush, heldExecutor, managerOnSimulatedClock } from './helpers.js';

describe('an executor that runs the task inside asyncExec', () => {
  const atOnce: Executor = { asyncExec: (task) => Promise.resolve(task()).then(() => undefined) };

  for (const engine of ['records', 'actors'] as const) {
    it(`still closes once, after the expiring step (${engine})`, async () => {
      const { clock, manager, closes, close } = managerOnSimulatedClock({ inspect: undefined });
      manager.new('a', 10, close('a'), { executor: atOnce });
      manager.new('b', 10, close('b'), { executor: atOnce });
      if (engine === 'actors') manager.actorOf('a');
      clock.increment(10);
      expect(manager.has('a')).toBe(false); // the close started within the expiring step
      await flush();
      expect(closes.map((c) => c.id)).toEqual(['a', 'b']);
      expect(closes.every((c) => c.signal.aborted)).toBe(true);
      expect(manager.size()).toBe(0);
    });
  }
});

describe('a close queued as a record, then materialized and renewed', () => {
  it('never runs: the renewal made it stale', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock({ inspect: undefined });
    const { executor, release } = heldExecutor();
    manager.new('a', 10, close('old'), { executor });
    clock.increment(10); // queued, behind the held task
    const actor = manager.actorOf('a')!;
    manager.new('a', 100, close('new'), { executor });
    release();
    await flush();
    expect(closes).toEqual([]);
    expect(actor.getSnapshot().value).toBe('active');
    clock.increment(90);
    await flush();
    expect(closes.map((c) => c.id)).toEqual(['new']);
  });

  it('runs once through the actor when nothing renewed it', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock({ inspect: undefined });
    const { executor, release } = heldExecutor();
    manager.new('a', 10, close('a'), { executor });
    clock.increment(10);
    const actor = manager.actorOf('a')!;
    release();
    await flush();
    expect(closes.map((c) => c.id)).toEqual(['a']);
    expect(actor.getSnapshot().status).toBe('done');
  });
});

describe('dispose({ close: true }) as the engine shows it', () => {
  it('drains: draining from the call until every close settled', async () => {
    const { manager, close } = managerOnSimulatedClock({ inspect: undefined });
    const engine = manager.actor.getSnapshot().context.engine;
    const running = deferred();
    manager.new('a', 1000, close('a', () => running.promise));
    expect(engine.draining).toBe(false);
    const done = manager.dispose({ close: true });
    expect(engine.draining).toBe(true);
    expect(manager.disposed).toBe(true); // from the call on, not once it settles
    await flush();
    expect(engine.closingCount).toBe(1);
    running.resolve();
    await done;
    expect(engine.closingCount).toBe(0);
    expect(manager.disposed).toBe(true);
    expect(() => manager.new('b', 10, close('b'))).toThrow(new TypeError('ExpireManager.new: the manager is disposed (id "b")'));
  });
});

describe('ExpireEngine from a table of another machine', () => {
  it('refuses an action it has no record effect for, naming it and the state', () => {
    const machine = setup({ actions: { launch: () => {} } }).createMachine({
      initial: 'idle',
      states: { idle: { on: { go: { target: 'idle', actions: 'launch' } } } },
    });
    const manager = createExpireManager({ clock: new SimulatedClock() });
    const heap = new TimerHeap(new SimulatedClock());
    expect(
      () =>
        new ExpireEngine({
          table: compileMachine(machine),
          heap,
          onCloseError: () => {},
          parent: manager.actor,
          materializeAll: false,
          scheduler: installScheduler(manager.actor.system, heap),
        }),
    ).toThrow(new TypeError('ExpireEngine: no record effect for the action "launch" (state "(machine).idle")'));
  });
});

describe('ExpireProtocol.update', () => {
  it('is a TypeError, thrown at once, when update is not a function', () => {
    const protocol = createExpireProtocol(createExpireManager({ clock: new SimulatedClock() }));
    expect(() => protocol.update('a', 'nope' as never)).toThrow(new TypeError('ExpireProtocol.update: update must be a function'));
  });
});

describe('realClock: one native timer per timer', () => {
  afterEach(() => vi.useRealTimers());

  it('runs a timer after its delay on an unref’d native timer, and cancels it', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: 1_000 });
    const fired: number[] = [];
    const handle = realClock.setTimeout(() => fired.push(realClock.now()), 100) as NodeJS.Timeout;
    expect(handle.hasRef()).toBe(false);
    const cancelled = realClock.setTimeout(() => fired.push(-1), 50);
    realClock.clearTimeout(cancelled);
    vi.advanceTimersByTime(100);
    expect(fired).toEqual([1_100]);
  });
});

describe('messages name what was wrong', () => {
  it('null is named null', () => {
    const manager = createExpireManager({ clock: new SimulatedClock() });
    expect(() => manager.new(null as never, 1, () => {})).toThrow(
      new TypeError('ExpireManager.new: id must be a non-empty string, got null'),
    );
  });

  it('an invalid Date in a renewal is named so', async () => {
    const { clock } = managerOnSimulatedClock({ inspect: undefined });
    const manager = createExpireManager({ clock });
    const protocol = createExpireProtocol(manager);
    await expect(protocol.update('a', () => ({ value: 1, expiresAt: new Date(Number.NaN), close: () => {} }))).rejects.toThrow(
      new TypeError('ExpireProtocol.update: renewal.expiresAt must be a number of milliseconds, a valid Date, or { ttlMs } (a finite number ≥ 0), got an invalid Date'),
    );
  });
});

describe('a deadline on the real clock', () => {
  it('from 10^12 ms (September 2001) on is a deadline; below, a TTL by mistake, named so', async () => {
    const manager = createExpireManager();
    expect(() => manager.new('ttl', 30_000, () => {})).toThrow(
      new TypeError(
        'ExpireManager.new: expiresAt 30000 is not a deadline on the real clock (epoch ms); deadlines are absolute: pass Date.now() + ttl, or { ttlMs }',
      ),
    );
    expect(() => manager.new('early', 1e12 - 1, () => {})).toThrow(TypeError);
    manager.new('edge', 1e12, () => {});
    expect(manager.has('edge')).toBe(true);
    await manager.dispose();
  });
});

describe('the engine answers for ids it does not have, and for live actors', () => {
  it('an unknown id: generation 0, takes no call, no entry', () => {
    const { manager } = managerOnSimulatedClock({ inspect: undefined });
    const engine = manager.actor.getSnapshot().context.engine;
    expect(engine.generation('nope')).toBe(0);
    expect(engine.takes('retry', 'nope')).toBe(false);
    expect(engine.takes('stop', 'nope')).toBe(false);
    expect(engine.entry('nope')).toBeUndefined();
  });

  it('a materialized entity’s generation is its actor’s, which renewals move on', () => {
    const { manager, close } = managerOnSimulatedClock({ inspect: undefined });
    const engine = manager.actor.getSnapshot().context.engine;
    manager.new('a', 10, close('a'));
    manager.actorOf('a');
    manager.new('a', 20, close('a'));
    manager.new('a', 30, close('a'));
    // The record keeps the generation it had when its actor was made (0); the actor moved on.
    expect(engine.generation('a')).toBe(2);
    expect(manager.get('a')!.generation).toBe(2);
  });

  it('an entry has no lastError key until a close failed', () => {
    const { manager, close } = managerOnSimulatedClock({ inspect: undefined });
    manager.new('a', 10, close('a'));
    expect(Object.keys(manager.get('a')!)).not.toContain('lastError');
  });
});
