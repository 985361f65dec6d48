/**
 * An entity that ends (deleted, closed, refused) leaves the manager's timer
 * heap at once, however far its deadline: the heap's size drops in the same
 * call, and no timer of the clock below stays aimed at its old slot. A
 * renewal never adds a node: one per entity, on records as on live actors.
 */
import { describe, expect, it } from 'vitest';
import { createExpireManager } from '../src/index.js';
import { TimerHeap } from '../src/manager/timer-heap.js';
import { countingClock, flush } from './helpers.js';

/** Ten years from the start of a simulated clock: far beyond one timer of the clock below. */
const FAR = 10 * 365 * 24 * 3600 * 1000;

const engines = [
  ['records', false],
  ['live actors', true],
] as const;

describe.each(engines)('the timer heap of a manager, on %s', (_name, live) => {
  function setup() {
    const { clock, pending } = countingClock();
    const heap = new TimerHeap(clock);
    const errors: unknown[] = [];
    const manager = createExpireManager({ clock: heap, onCloseError: (_id, error) => void errors.push(error) });
    const closes: string[] = [];
    const create = (id: string, deadline: number, options?: Parameters<typeof manager.new>[3]) => {
      manager.new(id, deadline, () => void closes.push(id), options);
      if (live) manager.actorOf(id);
    };
    return { pending, heap, manager, closes, errors, create };
  }

  it('a deleted far-future entity leaves it at once', () => {
    const { heap, pending, manager, create } = setup();
    create('a', FAR);
    create('b', FAR + 1);
    expect(heap.size).toBe(2);
    expect(manager.delete('a')).toBe(true);
    expect(heap.size).toBe(1);
    expect(manager.delete('b')).toBe(true);
    expect(heap.size).toBe(0);
    expect(pending.size).toBe(0); // the clock below is left with no timer
  });

  it('a renewed far-future entity keeps one node, and leaves at once when deleted', () => {
    const { heap, pending, manager, create } = setup();
    create('a', FAR);
    manager.new('a', 2 * FAR, () => {}); // later
    expect(heap.size).toBe(1);
    manager.new('a', FAR / 2, () => {}); // earlier
    expect(heap.size).toBe(1);
    manager.new('a', 3 * FAR, () => {}); // later again
    expect(heap.size).toBe(1);
    expect(manager.delete('a')).toBe(true);
    expect(heap.size).toBe(0);
    expect(pending.size).toBe(0);
  });

  it('a far-future entity deleted while paused, or renewed by an update, leaves at once', () => {
    const { heap, pending, manager, create } = setup();
    create('paused', FAR);
    create('updated', FAR);
    expect(manager.stop('paused')).toBe(true);
    expect(manager.stop('updated')).toBe(true);
    manager.new('updated', 2 * FAR, () => {}); // the update succeeded: renewed to later
    expect(manager.delete('paused')).toBe(true);
    expect(heap.size).toBe(1); // the renewed one's
    expect(manager.delete('updated')).toBe(true);
    expect(heap.size).toBe(0);
    expect(pending.size).toBe(0);
  });

  it('a far-future entity expired after an update leaves it once its close has settled', async () => {
    const { heap, pending, manager, closes, create } = setup();
    create('a', FAR);
    manager.stop('a');
    manager.expire('a');
    await flush();
    expect(closes).toEqual(['a']);
    expect(manager.has('a')).toBe(false);
    expect(heap.size).toBe(0);
    expect(pending.size).toBe(0);
  });

  it('a far-future entity whose close the executor refuses leaves it too', async () => {
    const { heap, manager, errors, create } = setup();
    create('a', FAR, { executor: { asyncExec: () => Promise.reject(new Error('full')) } });
    manager.stop('a');
    manager.expire('a');
    await flush();
    expect(errors).toHaveLength(1);
    expect(manager.has('a')).toBe(false);
    expect(heap.size).toBe(0);
  });
});
