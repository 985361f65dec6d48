/**
 * An executor's `asyncExec` may return any thenable, not only a native
 * Promise: a thenable that rejects (or whose `then` throws) refuses the close,
 * exactly as a rejected Promise does, on records and on live actors alike.
 */
import { describe, expect, it } from 'vitest';
import type { Executor } from '../src/index.js';
import { flush, managerOnSimulatedClock } from './helpers.js';

/** A thenable of another promise library: it settles through its callbacks, later. */
function thenable(outcome: { value: unknown } | { error: unknown }): PromiseLike<unknown> {
  return {
    then(onFulfilled, onRejected) {
      queueMicrotask(() => {
        if ('error' in outcome) onRejected?.(outcome.error);
        else onFulfilled?.(outcome.value as never);
      });
      return this as never;
    },
  };
}

/** Each engine: records only, or every entity made a live actor as it is created. */
const engines = [
  ['records', false],
  ['live actors', true],
] as const;

describe.each(engines)('an executor that returns a thenable, on %s', (_name, live) => {
  function setup(executor: Executor) {
    const world = managerOnSimulatedClock({ inspect: undefined });
    const { manager, close } = world;
    manager.new('a', 10, close('a'), { executor });
    if (live) expect(manager.actorOf('a')).toBeDefined();
    return world;
  }

  it('that rejects refuses the close: reported, the entity gone, the close never called', async () => {
    const refusal = new Error('queue full');
    const { clock, manager, closes, errors } = setup({ asyncExec: () => thenable({ error: refusal }) as Promise<void> });
    clock.increment(10);
    await flush();
    expect(errors).toEqual([{ id: 'a', error: refusal }]);
    expect(closes).toEqual([]);
    expect(manager.has('a')).toBe(false);
    expect(manager.size()).toBe(0);
    expect(manager.stop('a')).toBe(false);
  });

  it('whose then() throws refuses the close too, and nothing escapes the timer', async () => {
    const refusal = new Error('broken thenable');
    const executor: Executor = {
      asyncExec: () =>
        ({
          then() {
            throw refusal;
          },
        }) as never,
    };
    const { clock, manager, closes, errors } = setup(executor);
    expect(() => clock.increment(10)).not.toThrow();
    await flush();
    expect(errors).toEqual([{ id: 'a', error: refusal }]);
    expect(closes).toEqual([]);
    expect(manager.has('a')).toBe(false);
  });

  it('that fulfils after running the task is no refusal: the close runs once', async () => {
    const executor: Executor = {
      asyncExec: (task) => {
        void task();
        return thenable({ value: undefined }) as Promise<void>;
      },
    };
    const { clock, manager, closes, errors } = setup(executor);
    clock.increment(10);
    await flush();
    expect(errors).toEqual([]);
    expect(closes.map((c) => c.id)).toEqual(['a']);
    expect(manager.has('a')).toBe(false);
  });
});
