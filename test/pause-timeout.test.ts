/**
 * The pause timeout (`pauseTimeoutMs`): an update that never reports back
 * cannot keep its entity alive for ever. As a user of the in-memory manager
 * (records and live actors) and of an embedded actor sees it.
 */
import { SimulatedClock, createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { type ExpireManagerOptions, createExpireManager, expirationMachine } from '../src/index.js';
import { flush } from './helpers.js';

function setup(live: boolean, options: ExpireManagerOptions = {}) {
  const clock = new SimulatedClock();
  const manager = createExpireManager({ clock, onCloseError: () => {}, ...(live ? { inspect: () => {} } : {}), ...options });
  const closed: Array<{ id: string; at: number }> = [];
  const closer = (id: string) => async () => void closed.push({ id, at: clock.now() });
  const advance = async (ms: number) => {
    clock.increment(ms);
    await flush();
  };
  return { manager, closed, closer, advance };
}

describe.each([
  ['records', false],
  ['live actors', true],
])('on %s', (_, live) => {
  it('without pauseTimeoutMs (the default, Go) a pause lasts until the update reports back', async () => {
    const { manager, closed, closer, advance } = setup(live);
    manager.new('a', 100, closer('a'));
    expect(manager.stop('a')).toBe(true);
    await advance(1_000_000);
    expect(manager.get('a')?.state).toBe('paused');
    expect(closed).toEqual([]);
  });

  it('a pause that outlives pauseTimeoutMs resumes the saved deadline, as a failed update does (R1.2)', async () => {
    const { manager, closed, closer, advance } = setup(live, { pauseTimeoutMs: 50 });
    manager.new('a', 100, closer('a'));
    await advance(10);
    manager.stop('a');
    await advance(49);
    expect(manager.get('a')).toMatchObject({ state: 'paused', deadline: 100 });
    await advance(1);
    expect(manager.get('a')).toMatchObject({ state: 'active', deadline: 100 });
    await advance(39);
    expect(closed).toEqual([]);
    await advance(1);
    expect(closed).toEqual([{ id: 'a', at: 100 }]);
  });

  it('a pause past its deadline that times out closes at once', async () => {
    const { manager, closed, closer, advance } = setup(live, { pauseTimeoutMs: 500 });
    manager.new('a', 100, closer('a'));
    manager.stop('a');
    await advance(499);
    expect(closed).toEqual([]);
    await advance(1);
    expect(manager.get('a')?.state).toBe('active');
    // The deadline is behind: its timer is armed for now (a simulated clock fires it on its next move).
    await advance(0);
    expect(closed).toEqual([{ id: 'a', at: 500 }]);
  });

  it('stop while paused (another update) starts the timeout again; start and new end it', async () => {
    const { manager, closed, closer, advance } = setup(live, { pauseTimeoutMs: 50 });
    manager.new('a', 1_000, closer('a'));
    manager.stop('a');
    await advance(40);
    expect(manager.stop('a')).toBe(true);
    await advance(49);
    expect(manager.get('a')?.state).toBe('paused');
    await advance(1);
    expect(manager.get('a')?.state).toBe('active');
    // A pause ended by start or new leaves no timeout behind.
    manager.stop('a');
    manager.start('a');
    manager.stop('a');
    manager.new('a', 2_000, closer('a'));
    await advance(100);
    expect(manager.get('a')).toMatchObject({ state: 'active', deadline: 2_000 });
    expect(closed).toEqual([]);
  });
});

describe('pauseTimeoutMs input', () => {
  it('is a number of ms from 1 to 2^31−1, or a TypeError that creates nothing', () => {
    for (const bad of [0, -1, 2 ** 31, Number.NaN, '5', null]) {
      expect(() => createExpireManager({ pauseTimeoutMs: bad as number })).toThrow(
        /createExpireManager: pauseTimeoutMs must be a number of ms from 1 to 2\^31−1/,
      );
      const actor = createActor(expirationMachine, { input: { id: 'a', deadline: { ttlMs: 10 }, close: () => {}, pauseTimeoutMs: bad as number } });
      const errors: unknown[] = [];
      actor.subscribe({ error: (error) => errors.push(error) });
      actor.start();
      expect(String(errors[0])).toMatch(/TypeError: expirationMachine input: pauseTimeoutMs must be/);
    }
  });

  it('an embedded actor resumes its deadline after its own pauseTimeoutMs', () => {
    const clock = new SimulatedClock();
    const actor = createActor(expirationMachine, { clock, input: { id: 'a', deadline: { ttlMs: 10 }, close: () => {}, pauseTimeoutMs: 5 } });
    actor.start();
    actor.send({ type: 'stop' });
    clock.increment(5);
    expect(actor.getSnapshot().value).toBe('active');
    actor.stop();
  });
});
