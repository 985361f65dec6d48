import { SimulatedClock } from 'xstate';
import { describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_DELAY, SerialExecutor, createExpireManager } from '../src/index.js';
import { countingClock, deferred, flush, managerOnSimulatedClock } from './helpers.js';

describe('new', () => {
  it('creates an active expiration that closes once at the deadline, not before', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    manager.new('a', 100, close('a'));
    expect(manager.state('a')).toBe('active');
    expect(manager.size()).toBe(1);

    clock.increment(99);
    await flush();
    expect(closes).toHaveLength(0);
    expect(manager.has('a')).toBe(true);

    clock.increment(1);
    await flush();
    expect(closes).toEqual([{ id: 'a', signal: expect.any(AbortSignal), at: 100 }]);
    expect(manager.has('a')).toBe(false);
    expect(manager.state('a')).toBeUndefined();
    expect(manager.size()).toBe(0);
  });

  it('accepts a Date as the deadline', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    manager.new('a', new Date(50), close('a'));
    clock.increment(50);
    await flush();
    expect(closes.map((c) => c.at)).toEqual([50]);
  });

  it('replaces an expiration: the old one never closes', async () => {
    const { clock, manager, closesOf, close } = managerOnSimulatedClock();
    manager.new('a', 100, close('old'));
    manager.new('a', 300, close('new'));
    expect(manager.size()).toBe(1);
    clock.increment(200);
    await flush();
    expect(closesOf('old')).toHaveLength(0);
    expect(closesOf('new')).toHaveLength(0);
    clock.increment(100);
    await flush();
    expect(closesOf('old')).toHaveLength(0);
    expect(closesOf('new').map((c) => c.at)).toEqual([300]);
  });

  it('replaces an expiration whose close is queued but not started: that close never runs', async () => {
    const { clock, manager, closesOf, close } = managerOnSimulatedClock();
    const executor = new SerialExecutor();
    const busy = deferred();
    void executor.asyncExec(() => busy.promise); // holds the queue
    manager.new('a', 10, close('old'), { executor });
    clock.increment(10);
    await flush();
    expect(manager.state('a')).toBe('expired');
    expect(manager.stop('a')).toBe(true); // queued, not started: still there

    manager.new('a', 1000, close('new'), { executor });
    busy.resolve();
    await flush();
    expect(closesOf('old')).toHaveLength(0);
    expect(manager.state('a')).toBe('active');
  });

  it('uses one default serial executor per id, so an old close and a new close never interleave', async () => {
    const { clock, manager, closes } = managerOnSimulatedClock();
    const first = deferred();
    const log: string[] = [];
    manager.new('a', 10, async () => {
      log.push('first:start');
      await first.promise;
      log.push('first:end');
    });
    clock.increment(10);
    await flush();
    expect(log).toEqual(['first:start']);
    manager.new('a', 20, () => void log.push('second'));
    clock.increment(10);
    await flush();
    expect(log).toEqual(['first:start']); // waits for the first close
    first.resolve();
    await flush();
    expect(log).toEqual(['first:start', 'first:end', 'second']);
    expect(closes).toHaveLength(0); // recorder unused here
  });
});

describe('the close', () => {
  it('runs with a signal that aborts when the close settles', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    const running = deferred();
    manager.new('a', 10, close('a', () => running.promise));
    clock.increment(10);
    await flush();
    const [call] = closes;
    expect(call?.signal.aborted).toBe(false);
    running.resolve();
    await flush();
    expect(call?.signal.aborted).toBe(true);
  });

  it('aborts the signal when the manager is disposed while the close runs, and dispose waits for it', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    const running = deferred();
    manager.new('a', 10, close('a', () => running.promise));
    clock.increment(10);
    await flush();
    let disposed = false;
    const disposing = manager.dispose().then(() => (disposed = true));
    expect(closes[0]?.signal.aborted).toBe(true);
    await flush();
    expect(disposed).toBe(false);
    running.resolve();
    await disposing;
    expect(disposed).toBe(true);
  });

  it('reports a close that throws or rejects to onCloseError, with the id', async () => {
    const { clock, manager, errors, close } = managerOnSimulatedClock();
    const thrown = new Error('sync');
    const rejected = new Error('async');
    manager.new('sync', 10, close('sync', () => {
      throw thrown;
    }));
    manager.new('async', 10, close('async', () => Promise.reject(rejected)));
    clock.increment(10);
    await flush();
    expect(errors).toEqual([
      { id: 'sync', error: thrown },
      { id: 'async', error: rejected },
    ]);
  });

  it('logs a close error with the id by default, and never as an unhandled rejection', async () => {
    const clock = new SimulatedClock();
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {});
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const manager = createExpireManager({ clock });
      manager.new('a', 10, () => Promise.reject(new Error('boom')));
      clock.increment(10);
      await flush();
      await flush();
      expect(consoleError).toHaveBeenCalledWith('xstate-expire: close of "a" failed:', expect.any(Error));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
      consoleError.mockRestore();
    }
  });

  it('survives an onCloseError that throws: falls back to the console', async () => {
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const { clock, manager } = managerOnSimulatedClock({
        onCloseError: () => {
          throw new Error('handler broke');
        },
      });
      manager.new('a', 10, () => {
        throw new Error('close broke');
      });
      clock.increment(10);
      await flush();
      expect(consoleError).toHaveBeenCalledTimes(1);
      expect(String(consoleError.mock.calls[0]?.[0])).toContain('"a"');
      expect(manager.size()).toBe(0);
    } finally {
      consoleError.mockRestore();
    }
  });

  it('reports an executor that refuses the close task', async () => {
    const refused = new Error('executor closed');
    const { clock, manager, errors } = managerOnSimulatedClock();
    manager.new('a', 10, () => {}, { executor: { asyncExec: () => Promise.reject(refused) } });
    clock.increment(10);
    await flush();
    expect(errors).toEqual([{ id: 'a', error: refused }]);
  });

  it('removes the entity from the manager before the close is called', async () => {
    const { clock, manager } = managerOnSimulatedClock();
    const seen: Array<[boolean, boolean]> = [];
    manager.new('a', 10, () => void seen.push([manager.has('a'), manager.stop('a')]));
    clock.increment(10);
    await flush();
    expect(seen).toEqual([[false, false]]);
  });

  it('waits for earlier work on the executor, and the task settles only when the close has', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    const executor = new SerialExecutor();
    const update = deferred();
    const closing = deferred();
    void executor.asyncExec(() => update.promise);
    manager.new('a', 10, close('a', () => closing.promise), { executor });
    clock.increment(10);
    await flush();
    expect(closes).toHaveLength(0);
    update.resolve();
    await flush();
    expect(closes).toHaveLength(1);
    let after = false;
    void executor.asyncExec(() => (after = true));
    await flush();
    expect(after).toBe(false);
    closing.resolve();
    await flush();
    expect(after).toBe(true);
  });
});

describe('stop, start, expire', () => {
  it('stop pauses and keeps the deadline; start resumes it (R1)', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    manager.new('a', 100, close('a'));
    clock.increment(40);
    expect(manager.stop('a')).toBe(true);
    expect(manager.state('a')).toBe('paused');
    clock.increment(30); // t = 70
    manager.start('a');
    expect(manager.state('a')).toBe('active');
    clock.increment(29); // t = 99
    await flush();
    expect(closes).toHaveLength(0);
    clock.increment(1); // t = 100: the saved deadline, not 70 + a fresh TTL
    await flush();
    expect(closes.map((c) => c.at)).toEqual([100]);
  });

  it('start after the deadline has passed expires on the next tick', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    manager.new('a', 100, close('a'));
    manager.stop('a');
    clock.increment(500);
    await flush();
    expect(closes).toHaveLength(0);
    manager.start('a');
    expect(manager.state('a')).toBe('active');
    clock.increment(0);
    await flush();
    expect(closes.map((c) => c.at)).toEqual([500]);
  });

  it('a paused expiration never expires on its own', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    manager.new('a', 100, close('a'));
    manager.stop('a');
    clock.increment(10_000);
    await flush();
    expect(closes).toHaveLength(0);
    expect(manager.state('a')).toBe('paused');
  });

  it('expire force-expires a paused expiration at once (R2)', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    manager.new('a', 100, close('a'));
    manager.stop('a');
    manager.expire('a');
    expect(manager.state('a')).toBe('expired');
    await flush();
    expect(closes.map((c) => c.at)).toEqual([0]);
    expect(clock.now()).toBe(0);
  });

  it('expire and start are no-ops on an active expiration', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    manager.new('a', 100, close('a'));
    manager.expire('a');
    manager.start('a');
    await flush();
    expect(manager.state('a')).toBe('active');
    expect(closes).toHaveLength(0);
    clock.increment(100);
    await flush();
    expect(closes).toHaveLength(1);
  });

  it('stop returns true while the close is queued but not started, and does not prevent it', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    manager.new('a', 10, close('a'));
    clock.increment(10);
    expect(manager.state('a')).toBe('expired');
    expect(manager.stop('a')).toBe(true);
    manager.start('a');
    manager.expire('a');
    expect(manager.state('a')).toBe('expired');
    await flush();
    expect(closes).toHaveLength(1);
  });

  it('return false or do nothing for unknown ids', () => {
    const { manager } = managerOnSimulatedClock();
    expect(manager.stop('x')).toBe(false);
    expect(manager.delete('x')).toBe(false);
    expect(() => manager.start('x')).not.toThrow();
    expect(() => manager.expire('x')).not.toThrow();
    expect(manager.has('x')).toBe(false);
    expect(manager.state('x')).toBeUndefined();
  });
});

describe('delete', () => {
  it('removes without closing and reports whether one existed', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    manager.new('a', 10, close('a'));
    expect(manager.delete('a')).toBe(true);
    expect(manager.delete('a')).toBe(false);
    clock.increment(100);
    await flush();
    expect(closes).toHaveLength(0);
    expect(manager.size()).toBe(0);
  });

  it('a delete while the close is queued cancels it', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    manager.new('a', 10, close('a'));
    clock.increment(10);
    expect(manager.delete('a')).toBe(true);
    await flush();
    expect(closes).toHaveLength(0);
  });
});

describe('requirement 4: once closed or expired, never again until new', () => {
  it('nothing closes an entity twice', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    manager.new('a', 10, close('a'));
    clock.increment(10);
    manager.stop('a');
    manager.expire('a');
    manager.start('a');
    await flush();
    manager.stop('a');
    manager.expire('a');
    manager.start('a');
    clock.increment(1000);
    await flush();
    expect(closes).toHaveLength(1);
    manager.new('a', 2000, close('a'));
    clock.increment(1000);
    await flush();
    expect(closes).toHaveLength(2);
  });
});

describe('the deadline', () => {
  it('is absolute: a deadline already passed at new expires on the next tick', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    clock.set(1000);
    manager.new('a', 10, close('a'));
    clock.increment(0);
    await flush();
    expect(closes.map((c) => c.at)).toEqual([1000]);
  });

  it('beyond 2^31-1 ms does not fire early: the timer is clamped and re-armed', async () => {
    const { clock, inner, delays } = countingClock();
    const closes: number[] = [];
    const manager = createExpireManager({ clock });
    const deadline = MAX_TIMER_DELAY + 5_000;
    manager.new('far', deadline, () => void closes.push(inner.now()));
    expect(Math.max(...delays)).toBe(MAX_TIMER_DELAY);
    inner.increment(MAX_TIMER_DELAY);
    await flush();
    expect(closes).toEqual([]);
    expect(manager.state('far')).toBe('active');
    expect(delays.at(-1)).toBe(5_000);
    inner.increment(4_999);
    await flush();
    expect(closes).toEqual([]);
    inner.increment(1);
    await flush();
    expect(closes).toEqual([deadline]);
  });

  it('Infinity never expires on its own but can be force-expired', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    manager.new('a', Infinity, close('a'));
    clock.increment(MAX_TIMER_DELAY * 2);
    await flush();
    expect(closes).toHaveLength(0);
    manager.stop('a');
    manager.expire('a');
    await flush();
    expect(closes).toHaveLength(1);
  });
});

describe('dispose', () => {
  it('clears every timer and stops every actor', async () => {
    const { clock, pending } = countingClock();
    const actors: import('xstate').AnyActorRef[] = [];
    const manager = createExpireManager({
      clock,
      inspect: (e) => void (e.type === '@xstate.actor' && actors.push(e.actorRef as import('xstate').AnyActorRef)),
    });
    for (let i = 0; i < 50; i++) manager.new(`e${i}`, 1000 + i, () => {});
    manager.stop('e1');
    expect(pending.size).toBe(1); // every timer in the manager's heap, behind one of the clock's
    await manager.dispose();
    expect(pending.size).toBe(0);
    expect(manager.size()).toBe(0);
    expect(actors.length).toBeGreaterThan(50);
    expect(actors.filter((a) => a.getSnapshot().status === 'active')).toEqual([]);
  });

  it('after dispose: new throws, the others return false or do nothing; dispose again is harmless', async () => {
    const { manager, close } = managerOnSimulatedClock();
    manager.new('a', 10, close('a'));
    await manager.dispose();
    expect(manager.disposed).toBe(true);
    expect(() => manager.new('b', 10, close('b'))).toThrow(TypeError);
    expect(manager.stop('a')).toBe(false);
    expect(manager.delete('a')).toBe(false);
    expect(manager.has('a')).toBe(false);
    expect(() => manager.start('a')).not.toThrow();
    expect(() => manager.expire('a')).not.toThrow();
    await expect(manager.dispose()).resolves.toBeUndefined();
  });

  it('aborting options.signal disposes the manager', async () => {
    const controller = new AbortController();
    const { manager, close } = managerOnSimulatedClock({ signal: controller.signal });
    manager.new('a', 10, close('a'));
    controller.abort();
    expect(manager.disposed).toBe(true);
    expect(manager.size()).toBe(0);
  });

  it('an already aborted signal gives a disposed manager', () => {
    const { manager } = managerOnSimulatedClock({ signal: AbortSignal.abort() });
    expect(manager.disposed).toBe(true);
  });

  it('works with await using', async () => {
    const { clock, closes, close } = managerOnSimulatedClock();
    let outer: import('../src/index.js').ExpireManager;
    {
      await using manager = createExpireManager({ clock });
      manager.new('a', 10, close('a'));
      outer = manager;
    }
    expect(outer.disposed).toBe(true);
    clock.increment(100);
    await flush();
    expect(closes).toHaveLength(0);
  });
});

describe('the manager’s own bookkeeping', () => {
  it('forgets a close once it settles, and the id’s default executor with its last entity', async () => {
    const { clock, manager, close } = managerOnSimulatedClock();
    const running = deferred();
    manager.new('a', 10, close('a', () => running.promise));
    clock.increment(10);
    await flush();
    const { engine } = manager.actor.getSnapshot().context;
    expect(engine.closingCount).toBe(1);
    expect(engine.executorCount).toBe(1);
    running.resolve();
    await flush();
    expect(engine.closingCount).toBe(0);
    expect(engine.executorCount).toBe(0);
  });
});
