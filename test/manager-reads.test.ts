/**
 * The in-memory manager reads like the durable one: `get(id)`, `entries()`,
 * `size()` as a method, and `{ ttlMs }` as a deadline.
 */
import { describe, expect, it } from 'vitest';
import { createExpireManager } from '../src/index.js';
import { flush, managerOnSimulatedClock } from './helpers.js';

describe('get(id)', () => {
  it('reports state, deadline and generation, through a pause, a renewal and materialization', async () => {
    const { clock, manager, close } = managerOnSimulatedClock();
    clock.increment(10);
    manager.new('a', 100, close('a'));
    expect(manager.get('a')).toEqual({ id: 'a', state: 'active', deadline: 100, generation: 0, attempts: 0 });
    manager.stop('a');
    expect(manager.get('a')).toEqual({ id: 'a', state: 'paused', deadline: 100, generation: 0, attempts: 0 });
    manager.new('a', 250, close('a'));
    expect(manager.get('a')).toEqual({ id: 'a', state: 'active', deadline: 250, generation: 1, attempts: 0 });
    manager.actorOf('a');
    manager.new('a', 300, close('a'));
    expect(manager.get('a')).toEqual({ id: 'a', state: 'active', deadline: 300, generation: 2, attempts: 0 });
    expect(manager.get('b')).toBeUndefined();
    clock.increment(300);
    await flush();
    expect(manager.get('a')).toBeUndefined();
  });

  it('is a TypeError for a bad id', () => {
    const { manager } = managerOnSimulatedClock();
    expect(() => manager.get('')).toThrow(new TypeError('ExpireManager.get: id must be a non-empty string, got ""'));
  });
});

describe('entries()', () => {
  it('yields every live expiration in creation order, skipping one that ended while iterating', () => {
    const { manager, close } = managerOnSimulatedClock();
    manager.new('a', 100, close('a'));
    manager.new('b', 200, close('b'));
    manager.new('c', 300, close('c'));
    manager.stop('b');
    const seen: string[] = [];
    for (const [id, entry] of manager.entries()) {
      seen.push(`${id}:${entry.state}:${entry.deadline}`);
      if (id === 'a') manager.delete('b');
    }
    expect(seen).toEqual(['a:active:100', 'c:active:300']);
    expect([...manager.entries()].map(([id]) => id)).toEqual(['a', 'c']);
    expect(manager.size()).toBe(2);
  });
});

describe('{ ttlMs } as the deadline', () => {
  it("counts from the manager's clock now", async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    clock.increment(40);
    manager.new('a', { ttlMs: 60 }, close('a'));
    expect(manager.get('a')?.deadline).toBe(100);
    clock.increment(59);
    await flush();
    expect(closes).toHaveLength(0);
    clock.increment(1);
    await flush();
    expect(closes.map((c) => c.at)).toEqual([100]);
  });

  it('is taken on the real clock, where a small number is a TTL by mistake', async () => {
    await using manager = createExpireManager();
    const before = Date.now();
    manager.new('a', { ttlMs: 60_000 }, () => undefined);
    expect(manager.get('a')!.deadline).toBeGreaterThanOrEqual(before + 60_000);
    expect(() => manager.new('b', 60_000, () => undefined)).toThrow(/is not a deadline on the real clock.*or \{ ttlMs \}/);
  });

  it.each([[{ ttlMs: -1 }], [{ ttlMs: Number.NaN }], [{ ttlMs: Infinity }], [{ ttlMs: '5' }], [{}]])(
    '%o is a TypeError and changes nothing',
    (deadline) => {
      const { manager, close } = managerOnSimulatedClock();
      manager.new('a', 100, close('a'));
      expect(() => manager.new('a', deadline as never, close('a'))).toThrow(
        /ExpireManager\.new: expiresAt must be a number of milliseconds, a valid Date, or \{ ttlMs \}/,
      );
      expect(manager.get('a')).toEqual({ id: 'a', state: 'active', deadline: 100, generation: 0, attempts: 0 });
    },
  );
});

describe('status', () => {
  it('goes running → draining → disposed, and disposed says whether it left running', async () => {
    const { manager, clock, close } = managerOnSimulatedClock();
    manager.new('a', 100, close('a', () => new Promise((resolve) => setTimeout(resolve, 0))));
    expect([manager.status, manager.disposed]).toEqual(['running', false]);
    const draining = manager.dispose({ close: true });
    expect([manager.status, manager.disposed]).toEqual(['draining', true]);
    clock.increment(0);
    await draining;
    expect(manager.status).toBe('disposed');
  });

  it('a plain dispose goes straight to disposed', async () => {
    const { manager } = managerOnSimulatedClock();
    const disposal = manager.dispose();
    expect(manager.status).toBe('disposed');
    await disposal;
  });
});
