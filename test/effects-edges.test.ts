/**
 * The close effects where timing makes them stale: a refusal that arrives
 * after a renewal queued a newer close, and a close that settles after its
 * actor has ended.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Executor, MANAGER_DISPOSED } from '../src/index.js';
import { deferred, flush, heldExecutor, managerOnSimulatedClock } from './helpers.js';

afterEach(() => vi.restoreAllMocks());

describe('a late refusal of an older close', () => {
  for (const engine of ['records', 'actors'] as const) {
    it(`leaves the newer close queued and running once (${engine})`, async () => {
      const { clock, manager, closes, errors, close } = managerOnSimulatedClock({ inspect: undefined });
      const refusal = deferred();
      const refusing: Executor = { asyncExec: () => refusal.promise.then(() => Promise.reject(new Error('refused late'))) };
      const { executor: later, release } = heldExecutor();
      manager.new('a', 10, close('old'), { executor: refusing });
      if (engine === 'actors') manager.actorOf('a');
      clock.increment(10); // the old close is queued on the executor that will refuse it
      manager.new('a', 20, close('new'), { executor: later });
      clock.increment(10); // the new close is queued too, behind the held task
      expect(manager.state('a')).toBe('expired');
      refusal.resolve();
      await flush();
      expect(errors.map((e) => String(e.error))).toEqual(['Error: refused late']); // reported all the same
      expect(manager.has('a')).toBe(true); // but it was about a close that will never run
      release();
      await flush();
      expect(closes.map((c) => c.id)).toEqual(['new']);
      expect(manager.has('a')).toBe(false);
    });
  }
});

describe('a close that settles after its actor ended', () => {
  it('sends nothing to the ended actor (XState would warn of an event sent to a stopped actor)', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { clock, manager, closes, close } = managerOnSimulatedClock({ inspect: undefined });
    const running = deferred();
    manager.new('a', 10, close('a', () => running.promise));
    const actor = manager.actorOf('a')!;
    clock.increment(10);
    await flush();
    const disposal = manager.dispose();
    expect(closes[0]!.signal.reason).toBe(MANAGER_DISPOSED);
    expect(actor.getSnapshot().status).toBe('done');
    running.resolve();
    await disposal;
    await flush();
    expect(warn).not.toHaveBeenCalled();
  });
});

describe('a close queued as a record, whose actor then ended', () => {
  it('its stale task frees the executor at once, so the next close on it runs', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock({ inspect: undefined });
    const { executor: shared, release } = heldExecutor();
    manager.new('a', 10, close('a'), { executor: shared });
    manager.new('b', 20, close('b'), { executor: shared });
    clock.increment(10); // a's close is queued behind the held task, as a record
    manager.actorOf('a');
    manager.delete('a'); // its actor ends, deleted
    clock.increment(10); // b's close is queued behind a's task
    release();
    await flush();
    expect(closes.map((c) => c.id)).toEqual(['b']);
  });

  it('a late refusal sends nothing to the ended actor', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { clock, manager, errors, close } = managerOnSimulatedClock({ inspect: undefined });
    const refusal = deferred();
    const refusing: Executor = { asyncExec: () => refusal.promise.then(() => Promise.reject(new Error('no'))) };
    manager.new('a', 10, close('a'), { executor: refusing });
    clock.increment(10);
    const actor = manager.actorOf('a')!;
    manager.delete('a');
    expect(actor.getSnapshot().status).toBe('done');
    refusal.resolve();
    await flush();
    expect(errors).toHaveLength(1);
    expect(warn).not.toHaveBeenCalled();
  });
});
