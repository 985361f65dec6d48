/**
 * Retries, the close timeout and the failed state, as a user of the in-memory
 * manager sees them: on records and on live actors alike.
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { CLOSE_SETTLED, CLOSE_TIMED_OUT, type ExpireManagerOptions, SerialExecutor, createExpireManager } from '../src/index.js';
import { backoffMs } from '../src/machines/retry.js';
import { deferred, flush } from './helpers.js';

/** A manager on a simulated clock; `live` materializes every entity (through an inspector). */
function setup(live: boolean, options: ExpireManagerOptions = {}) {
  const clock = new SimulatedClock();
  const errors: Array<{ id: string; error: unknown }> = [];
  const manager = createExpireManager({
    clock,
    onCloseError: (id, error) => errors.push({ id, error }),
    ...(live ? { inspect: () => {} } : {}),
    ...options,
  });
  /** Advances the clock, then lets the closes and executor tasks it started run. */
  const advance = async (ms: number) => {
    clock.increment(ms);
    await flush();
  };
  return { clock, manager, errors, advance };
}

/** A close that fails its first `failures` calls, recording each call's time and signal. */
function flaky(clock: SimulatedClock, failures: number) {
  const calls: Array<{ at: number; signal: AbortSignal }> = [];
  const close = async (signal: AbortSignal) => {
    calls.push({ at: clock.now(), signal });
    if (calls.length <= failures) throw new Error(`boom ${calls.length}`);
  };
  return { calls, close };
}

const POLICY = { attempts: 3, backoffMs: 100, maxBackoffMs: 1_000 };

describe.each([
  ['records', false],
  ['live actors', true],
])('on %s', (_, live) => {
  it('without retries (the default), a failed close is reported once and the entity is gone (Go)', async () => {
    const { manager, errors, advance, clock } = setup(live);
    const { calls, close } = flaky(clock, 1);
    manager.new('a', 10, close);
    await advance(10);
    expect(calls).toHaveLength(1);
    expect(errors.map((e) => (e.error as Error).message)).toEqual(['boom 1']);
    expect([manager.has('a'), manager.get('a'), manager.size()]).toEqual([false, undefined, 0]);
    await advance(60_000);
    expect(calls).toHaveLength(1);
  });

  it('retries after an exponential backoff with jitter, each attempt reported, until one succeeds', async () => {
    const { manager, errors, advance, clock } = setup(live, { retry: POLICY });
    const { calls, close } = flaky(clock, 2);
    manager.new('a', 10, close);
    await advance(10);
    expect(calls.map((c) => c.at)).toEqual([10]);
    // Between attempts the entity is the manager's again: expired (retrying), with what failed.
    expect(manager.get('a')).toEqual({ id: 'a', state: 'expired', deadline: 10, generation: 0, attempts: 1, lastError: 'boom 1' });
    const first = backoffMs(POLICY, 'a', 0, 1);
    expect(first).toBeGreaterThanOrEqual(50);
    expect(first).toBeLessThan(100);
    await advance(first - 1);
    expect(calls).toHaveLength(1);
    await advance(1);
    expect(calls.map((c) => c.at)).toEqual([10, 10 + first]);
    const second = backoffMs(POLICY, 'a', 0, 2);
    expect(second).toBeGreaterThanOrEqual(100);
    expect(second).toBeLessThan(200);
    await advance(second);
    expect(calls.map((c) => c.at)).toEqual([10, 10 + first, 10 + first + second]);
    expect(errors.map((e) => (e.error as Error).message)).toEqual(['boom 1', 'boom 2']);
    expect(manager.has('a')).toBe(false);
    // Each attempt had its own signal, aborted when it settled.
    expect(calls.map((c) => c.signal.reason)).toEqual([CLOSE_SETTLED, CLOSE_SETTLED, CLOSE_SETTLED]);
  });

  it('keeps an entity whose every attempt failed as failed, until retry(id), new(id) or delete(id)', async () => {
    const { manager, advance, clock } = setup(live, { retry: { attempts: 2, backoffMs: 100 } });
    const { calls, close } = flaky(clock, 4);
    manager.new('a', 10, close);
    await advance(10);
    await advance(1_000);
    expect(calls).toHaveLength(2);
    expect(manager.get('a')).toEqual({ id: 'a', state: 'failed', deadline: 10, generation: 0, attempts: 2, lastError: 'boom 2' });
    expect([manager.has('a'), manager.size(), [...manager.entries()].map(([id]) => id)]).toEqual([true, 1, ['a']]);
    // Nothing expires or closes it on its own; stop/start/expire leave it as it is.
    await advance(60_000);
    manager.stop('a');
    manager.start('a');
    manager.expire('a');
    expect([calls.length, manager.state('a')]).toEqual([2, 'failed']);
    // retry(id): a fresh round of attempts, now.
    expect(manager.retry('a')).toBe(true);
    await flush();
    expect(calls).toHaveLength(3);
    expect(manager.get('a')).toMatchObject({ state: 'expired', attempts: 1, lastError: 'boom 3' });
    await advance(1_000);
    expect(manager.get('a')).toMatchObject({ state: 'failed', attempts: 2, lastError: 'boom 4' });
    // The last two attempts succeed from here on: new(id) renews it like any live entity.
    manager.new('a', clock.now() + 50, close, { retry: { attempts: 1 } });
    expect(manager.get('a')).toEqual({ id: 'a', state: 'active', deadline: clock.now() + 50, generation: 1, attempts: 0 });
    await advance(50);
    expect([calls.length, manager.has('a')]).toEqual([5, false]);
  });

  it('retry(id) is false for anything but a failed entity; delete(id) drops a failed one', async () => {
    const { manager, advance, clock } = setup(live, { retry: { attempts: 2, backoffMs: 0 } });
    const { calls, close } = flaky(clock, 2);
    manager.new('a', 10, close);
    expect(manager.retry('a')).toBe(false);
    expect(manager.retry('nobody')).toBe(false);
    await advance(10);
    await advance(0);
    expect(manager.state('a')).toBe('failed');
    expect(manager.delete('a')).toBe(true);
    expect([manager.has('a'), manager.retry('a')]).toEqual([false, false]);
    await advance(1_000);
    expect(calls).toHaveLength(2);
  });

  it('a close longer than closeTimeoutMs sees its signal abort with CLOSE_TIMED_OUT and releases its executor', async () => {
    const { manager, errors, advance, clock } = setup(live, { closeTimeoutMs: 30 });
    const hang = deferred();
    const signals: AbortSignal[] = [];
    const own = new SerialExecutor();
    manager.new('a', 10, (signal) => {
      signals.push(signal);
      return hang.promise;
    }, { executor: own });
    await advance(10);
    expect(signals).toHaveLength(1);
    let after = false;
    void own.asyncExec(() => void (after = true));
    await advance(29);
    expect([signals[0]!.aborted, after]).toEqual([false, false]);
    await advance(1);
    expect(signals[0]!.reason).toBe(CLOSE_TIMED_OUT);
    expect(after).toBe(true); // the entity's other work is not held behind the hung close
    expect(errors.map((e) => e.error)).toEqual([CLOSE_TIMED_OUT]);
    expect(manager.has('a')).toBe(false); // no retries: reported and gone
    // What the timed-out close does later is reported, and changes nothing.
    hang.reject(new Error('late'));
    await flush();
    expect(errors.map((e) => (e.error as Error).message)).toEqual([CLOSE_TIMED_OUT.message, 'late']);
    expect(manager.has('a')).toBe(false);
  });

  it('a timed-out attempt is retried like a failed one; new(id, …, { closeTimeoutMs }) overrides the manager', async () => {
    const { manager, advance, clock } = setup(live, { closeTimeoutMs: 1_000, retry: { attempts: 2, backoffMs: 10 } });
    const starts: number[] = [];
    manager.new('a', 10, () => {
      starts.push(clock.now());
      return starts.length === 1 ? new Promise<void>(() => {}) : undefined;
    }, { closeTimeoutMs: 20 });
    await advance(10);
    await advance(20);
    expect(manager.get('a')).toMatchObject({ state: 'expired', attempts: 1, lastError: CLOSE_TIMED_OUT.message });
    await advance(10);
    expect(starts).toHaveLength(2);
    expect(manager.has('a')).toBe(false);
  });

  it('a failed close whose id was taken meanwhile by new(id) is not retried, and leaves the new entity alone', async () => {
    const { manager, errors, advance, clock } = setup(live, { retry: POLICY });
    const failing = deferred();
    const calls: string[] = [];
    manager.new('a', 10, () => {
      calls.push('old');
      return failing.promise;
    });
    await advance(10);
    manager.new('a', 500, () => void calls.push('new'));
    failing.reject(new Error('old failed'));
    await flush();
    expect(errors.map((e) => (e.error as Error).message)).toEqual(['old failed']);
    expect(manager.get('a')).toEqual({ id: 'a', state: 'active', deadline: 500, generation: 0, attempts: 0 });
    await advance(clock.now() < 500 ? 500 - clock.now() : 0);
    await advance(5_000);
    expect(calls).toEqual(['old', 'new']);
  });

  it('dispose({ close: true }) ends when the last attempt failed (the failed entity is kept until then)', async () => {
    const { manager, advance, clock } = setup(live, { retry: { attempts: 2, backoffMs: 100 } });
    const { calls, close } = flaky(clock, 5);
    manager.new('a', 1_000, close);
    let done = false;
    const disposal = manager.dispose({ close: true }).then(() => (done = true));
    await flush();
    expect([calls.length, done]).toEqual([1, false]);
    await advance(200);
    await disposal;
    expect([calls.length, done, manager.has('a')]).toEqual([2, true, false]);
  });

  it('a plain dispose() while retrying drops the entity and its backoff', async () => {
    const { manager, advance, clock } = setup(live, { retry: POLICY });
    const { calls, close } = flaky(clock, 5);
    manager.new('a', 10, close);
    await advance(10);
    expect(manager.state('a')).toBe('expired');
    await manager.dispose();
    await advance(10_000);
    expect([calls.length, manager.has('a')]).toEqual([1, false]);
  });
});

describe('bad retry and timeout options', () => {
  it.each([
    [{ retry: { attempts: 0 } }, /retry\.attempts must be an integer from 1 to 1000, got 0/],
    [{ retry: { attempts: 1.5 } }, /retry\.attempts must be an integer/],
    [{ retry: { backoffMs: -1 } }, /retry\.backoffMs must be a number of ms from 0 to 2\^31−1, got -1/],
    [{ retry: { backoffMs: 2 ** 31 } }, /retry\.backoffMs must be a number of ms/],
    [{ retry: { backoffMs: 100, maxBackoffMs: 10 } }, /retry\.maxBackoffMs \(10\) must be at least retry\.backoffMs \(100\)/],
    [{ retry: 3 }, /retry must be \{ attempts, backoffMs\?, maxBackoffMs\? \}, got 3/],
    [{ closeTimeoutMs: 0 }, /closeTimeoutMs must be a number of ms from 1 to 2\^31−1, got 0/],
    [{ closeTimeoutMs: Number.NaN }, /closeTimeoutMs must be a number of ms/],
  ])('%o is a TypeError from createExpireManager and from new, which then changes nothing', (options, message) => {
    expect(() => createExpireManager({ clock: new SimulatedClock(), ...(options as object) })).toThrow(message);
    const { manager } = setup(false);
    manager.new('a', 100, () => {});
    expect(() => manager.new('a', 200, () => {}, options as never)).toThrow(message);
    expect(manager.get('a')).toEqual({ id: 'a', state: 'active', deadline: 100, generation: 0, attempts: 0 });
  });
});

describe('an expiration embedded on the real clock', () => {
  it('arms no timer Node cannot hold while it closes without a timeout (no TimeoutOverflowWarning, no early event)', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const closing = deferred();
      const { createActor } = await import('xstate');
      const { expirationMachine } = await import('../src/index.js');
      const actor = createActor(expirationMachine, {
        input: { id: 'x', deadline: { ttlMs: 1 }, close: () => closing.promise },
      }).start();
      while (actor.getSnapshot().value !== 'closed' && JSON.stringify(actor.getSnapshot().value) !== '{"expired":"closing"}') {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      // Longer than the 1 ms an overflowing timer would fire after.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(actor.getSnapshot().value).toEqual({ expired: 'closing' });
      closing.resolve();
      while (actor.getSnapshot().status !== 'done') await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === 'TimeoutOverflowWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
