/**
 * When a durable manager looks for due entities (src/durable/wake-ups.ts), on
 * an injected clock (vitest's fake timers): its polling, its timer on the
 * earliest due time (database time, through the measured offset), the
 * notifications it heeds, and passes that never overlap. The store is a
 * listening channel the test speaks on, as the real stores call back.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DurableStore } from '../../src/durable/index.js';
import { WakeUps } from '../../src/durable/wake-ups.js';
import { deferred } from '../helpers.js';

/** A WakeUps on a channel the test notifies; each pass records when it began (local time) and resolves with its number. */
function wakeUpsOn({ pollIntervalMs = 1_000 } = {}) {
  const channel = { name: '', notify: (_payload: string) => {}, reconnect: () => {}, unlistened: 0 };
  const refuse = () => Promise.reject(new Error('no SQL here'));
  const store: DurableStore = {
    kind: 'channel',
    schema: 'wake_schema',
    acquire: refuse,
    release: refuse,
    query: refuse,
    transaction: refuse,
    listen: async (name, onNotify, onReconnect) => {
      Object.assign(channel, { name, notify: onNotify, reconnect: onReconnect });
      return async () => void channel.unlistened++;
    },
  };
  const passes: number[] = [];
  /** When set, each pass waits for it. */
  let gate: Promise<void> | undefined;
  let active = true;
  const wakeUps = new WakeUps({
    store,
    namespace: 'ns',
    pollIntervalMs,
    pass: async () => {
      passes.push(Date.now());
      const count = passes.length;
      await gate;
      return count;
    },
    active: () => active,
  });
  return {
    wakeUps,
    channel,
    passes,
    hold: () => {
      const held = deferred();
      gate = held.promise;
      return () => {
        gate = undefined;
        held.resolve();
      };
    },
    deactivate: () => void (active = false),
  };
}

/** Lets the promises the fake timers' callbacks started settle. */
const settle = () => vi.advanceTimersByTimeAsync(0);

describe('durable wake-ups', () => {
  beforeEach(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] }));
  afterEach(() => void vi.useRealTimers());

  it('listens on the schema and polls every pollIntervalMs, not before', async () => {
    const { wakeUps, channel, passes } = wakeUpsOn({ pollIntervalMs: 1_000 });
    await wakeUps.start();
    expect(channel.name).toBe('wake_schema');
    await vi.advanceTimersByTimeAsync(999);
    expect(passes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(passes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(passes).toHaveLength(3);
    await wakeUps.stop();
  });

  it('a lost connection that came back starts a pass at once (notifications may have been missed)', async () => {
    const { wakeUps, channel, passes } = wakeUpsOn();
    await wakeUps.start();
    channel.reconnect();
    await settle();
    expect(passes).toHaveLength(1);
    await wakeUps.stop();
  });

  it('quiet() ends the polling and the timer: no pass starts from them, though the manager still takes work', async () => {
    const { wakeUps, passes } = wakeUpsOn({ pollIntervalMs: 1_000 });
    await wakeUps.start();
    wakeUps.schedule(Date.now() + 500);
    wakeUps.quiet();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(passes).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    await wakeUps.stop();
  });

  it('stop() ends the timers, waits for the pass under way, then stops listening', async () => {
    const { wakeUps, channel, passes, hold } = wakeUpsOn({ pollIntervalMs: 1_000 });
    await wakeUps.start();
    const release = hold();
    const polled = wakeUps.poll();
    wakeUps.schedule(Date.now() + 300);
    let stopped = false;
    const stopping = wakeUps.stop().then(() => void (stopped = true));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(stopped).toBe(false);
    expect(channel.unlistened).toBe(0);
    release();
    await stopping;
    expect(await polled).toBe(1);
    expect(channel.unlistened).toBe(1);
    expect(passes).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('poll() once the manager takes no more work: resolves 0, no pass', async () => {
    const { wakeUps, passes, deactivate } = wakeUpsOn();
    deactivate();
    expect(await wakeUps.poll()).toBe(0);
    wakeUps.kick();
    await settle();
    expect(passes).toEqual([]);
  });

  it('calls during a pass share one pass that begins after it; a call after that gets a pass of its own', async () => {
    const { wakeUps, passes, hold } = wakeUpsOn();
    const release = hold();
    const first = wakeUps.poll();
    const second = wakeUps.poll();
    const third = wakeUps.poll();
    expect(third).toBe(second);
    await settle();
    expect(passes).toHaveLength(1);
    release();
    expect(await first).toBe(1);
    expect(await second).toBe(2);
    expect(await third).toBe(2);
    expect(passes).toHaveLength(2);
    // Nothing under way: a pass at once, not the one that followed before.
    const again = hold();
    const fourth = wakeUps.poll();
    const fifth = wakeUps.poll();
    again();
    expect(await fourth).toBe(3);
    expect(await fifth).toBe(4);
  });

  it('a notification aims the timer 1 ms past its due time, read on the database clock through the measured offset', async () => {
    const { wakeUps, channel, passes } = wakeUpsOn({ pollIntervalMs: 60_000 });
    await wakeUps.start();
    const local = Date.now();
    // The database's clock is 5 s ahead of this process's.
    wakeUps.measured(local + 5_000);
    expect(wakeUps.offset).toBe(5_000);
    channel.notify(`ns\n${local + 5_000 + 300}`);
    await vi.advanceTimersByTimeAsync(300);
    expect(passes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(passes).toEqual([local + 301]);
    await wakeUps.stop();
  });

  it('the timer keeps the sooner of two times; once it fired, a later time aims it again', async () => {
    const { wakeUps, passes } = wakeUpsOn({ pollIntervalMs: 60_000 });
    await wakeUps.start();
    const local = Date.now();
    wakeUps.schedule(local + 500);
    wakeUps.schedule(local + 800);
    wakeUps.schedule(local + 200);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(passes).toEqual([local + 201]);
    wakeUps.schedule(local + 1_500);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(passes).toEqual([local + 201, local + 1_501]);
    await wakeUps.stop();
  });

  it('notifications of another namespace on the same schema, or without a time, aim nothing', async () => {
    const { wakeUps, channel, passes } = wakeUpsOn({ pollIntervalMs: 60_000 });
    await wakeUps.start();
    const local = Date.now();
    channel.notify(`other\n${local + 100}`);
    channel.notify(`ns2\n${local + 100}`);
    channel.notify('ns');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(passes).toEqual([]);
    channel.notify(`ns\n${local + 1_100}`);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(passes).toEqual([local + 1_101]);
    await wakeUps.stop();
  });

  it('a due time past already, or beyond what a timer holds, is aimed at now and at the longest delay', async () => {
    // Not started: no polling, the timer alone.
    const { wakeUps, passes } = wakeUpsOn();
    const local = Date.now();
    wakeUps.schedule(local - 10_000);
    await vi.advanceTimersByTimeAsync(0);
    expect(passes).toEqual([local]);
    wakeUps.schedule(local + 2 ** 40);
    await vi.advanceTimersByTimeAsync(2 ** 31 - 2);
    expect(passes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(passes).toEqual([local, local + 2 ** 31 - 1]);
    await wakeUps.stop();
  });
});
