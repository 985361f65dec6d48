/**
 * The expiration machine embedded on its own, without a manager: no parent to
 * tell, and, without an executor, the close queued on a microtask.
 */
import { SimulatedClock, createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { CLOSE_SETTLED, type ExpirationInput, MANAGER_DISPOSED, expirationMachine } from '../src/index.js';
import { deferred, flush } from './helpers.js';

function embedded(input: Partial<ExpirationInput> = {}) {
  const clock = new SimulatedClock();
  const signals: AbortSignal[] = [];
  const errors: unknown[] = [];
  const actor = createActor(expirationMachine, {
    clock,
    input: {
      id: 'e',
      deadline: 10,
      close: (signal) => void signals.push(signal),
      clock,
      onCloseError: (_id, error) => void errors.push(error),
      ...input,
    },
  }).start();
  return { clock, actor, signals, errors };
}

describe('an expiration actor on its own', () => {
  it('without an executor, closes once on a microtask at its deadline, and ends with its output', async () => {
    const { clock, actor, signals, errors } = embedded();
    clock.increment(9);
    expect(actor.getSnapshot().value).toBe('active');
    clock.increment(1);
    expect(signals).toEqual([]); // not inside the clock's callback
    await flush();
    expect(signals).toHaveLength(1);
    expect(signals[0]!.reason).toBe(CLOSE_SETTLED);
    expect(errors).toEqual([]);
    expect(actor.getSnapshot().status).toBe('done');
    expect(actor.getSnapshot().output).toEqual({ id: 'e', ref: actor, closed: true });
  });

  it('deleted, it ends without closing, and says so in its output', () => {
    const { actor, signals } = embedded();
    actor.send({ type: 'delete' });
    expect(actor.getSnapshot().output).toEqual({ id: 'e', ref: actor, closed: false });
    expect(signals).toEqual([]);
  });

  it('picks its executor with executorFor when it has none of its own', async () => {
    const asked: string[] = [];
    const { clock, signals } = embedded({
      executorFor: (id) => (asked.push(id), { asyncExec: async (task) => void (await task()) }),
    });
    clock.increment(10);
    await flush();
    expect(asked).toEqual(['e']);
    expect(signals).toHaveLength(1);
  });

  it('a close taken over (reclaim) runs again with a signal of its own; dispose aborts the one running', async () => {
    const runs: Array<{ signal: AbortSignal; done: ReturnType<typeof deferred<void>> }> = [];
    const { clock, actor } = embedded({
      close: (signal) => {
        const done = deferred();
        runs.push({ signal, done });
        return done.promise;
      },
    });
    clock.increment(10);
    await flush();
    actor.send({ type: 'reclaim' });
    await flush();
    expect(runs).toHaveLength(2);
    expect(runs[1]!.signal).not.toBe(runs[0]!.signal);
    actor.send({ type: 'dispose' });
    expect(runs[1]!.signal.reason).toBe(MANAGER_DISPOSED);
    expect(actor.getSnapshot().value).toBe('closed');
  });
});
