/**
 * The expiration machine embedded on its own, without a manager: no parent to
 * tell, and, without an executor, the close queued on a microtask.
 */
import { type AnyActorRef, SimulatedClock, createActor, initialTransition, setup } from 'xstate';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ACTOR_STOPPED,
  CLOSE_SETTLED,
  type ExpirationInput,
  MANAGER_DISPOSED,
  expirationMachine,
  realClock,
} from '../src/index.js';
import { deferred, flush, heldExecutor } from './helpers.js';

/** An expiration on a `SimulatedClock` given to `createActor` only: the machine reads it from its actor. */
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
      onCloseError: (_id, error) => void errors.push(error),
      ...input,
    },
  }).start();
  return { clock, actor, signals, errors };
}

/** A close that records its signal and settles when the test says. */
function heldClose() {
  const runs: Array<{ signal: AbortSignal; done: ReturnType<typeof deferred<void>> }> = [];
  const close = (signal: AbortSignal) => {
    const done = deferred();
    runs.push({ signal, done });
    return done.promise;
  };
  return { runs, close };
}

/** The error an expiration actor fails to start with (the first one its observer sees). */
function startError(input: unknown, clock?: SimulatedClock): unknown {
  const actor = createActor(expirationMachine, { clock, input: input as ExpirationInput });
  let error: unknown;
  actor.subscribe({ error: (e) => (error ??= e) });
  actor.start();
  return error;
}

afterEach(() => vi.restoreAllMocks());

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
    const { runs, close } = heldClose();
    const { clock, actor } = embedded({ close });
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

describe('the input: { id, deadline, close }, the rest defaulted', () => {
  it("reads the clock given to createActor: the context's clock is the actor's", async () => {
    const clock = new SimulatedClock();
    clock.set(5_000);
    const closed: number[] = [];
    const actor = createActor(expirationMachine, {
      clock,
      input: { id: 'a', deadline: 5_100, close: () => void closed.push(clock.now()) },
    }).start();
    expect(actor.getSnapshot().context.clock).toBe(clock);
    clock.increment(99);
    await flush();
    expect(closed).toEqual([]);
    clock.increment(1);
    await flush();
    expect(closed).toEqual([5_100]);
  });

  it('takes { ttlMs } from the clock at start, and an input clock that is the same as the actor’s', async () => {
    const clock = new SimulatedClock();
    clock.set(1_000);
    const { runs, close } = heldClose();
    const actor = createActor(expirationMachine, { clock, input: { id: 't', deadline: { ttlMs: 50 }, close, clock } }).start();
    expect(actor.getSnapshot().context.deadline).toBe(1_050);
    actor.send({ type: 'stop' });
    clock.increment(80); // paused past the deadline: the deadline is absolute
    actor.send({ type: 'start' });
    expect(actor.getSnapshot().value).toBe('active');
    clock.increment(0); // a deadline already passed expires on the next tick, not 50 ms later
    expect(actor.getSnapshot().matches('expired')).toBe(true);
    await flush();
    expect(runs).toHaveLength(1);
  });

  it('accepts a Date as the deadline', () => {
    const clock = new SimulatedClock();
    const actor = createActor(expirationMachine, { clock, input: { id: 'd', deadline: new Date(42), close: () => {} } }).start();
    expect(actor.getSnapshot().context.deadline).toBe(42);
  });

  it('an input clock other than the actor’s is a TypeError: the two clocks can never disagree', () => {
    const error = startError({ id: 'c', deadline: 10, close: () => {}, clock: new SimulatedClock() }, new SimulatedClock());
    expect(error).toBeInstanceOf(TypeError);
    expect(String(error)).toMatch(/clock differs from the actor's clock/);
  });

  it('on XState’s default clock (no now()), runs on real time: the TTL guard holds', () => {
    expect(String(startError({ id: 'r', deadline: 30_000, close: () => {} }))).toMatch(
      /TypeError: .*deadline 30000 is not a deadline on the real clock/,
    );
    const before = Date.now();
    const actor = createActor(expirationMachine, { input: { id: 'r', deadline: { ttlMs: 30_000 }, close: () => {} } }).start();
    const after = Date.now();
    try {
      const { context } = actor.getSnapshot();
      expect(context.clock).toBe(realClock);
      expect(context.deadline).toBeGreaterThanOrEqual(before + 30_000);
      expect(context.deadline).toBeLessThanOrEqual(after + 30_000);
      expect(actor.getSnapshot().value).toBe('active');
    } finally {
      actor.stop();
    }
  });

  it('on a real clock given to createActor (realClock), the TTL guard holds too', () => {
    const actor = createActor(expirationMachine, { clock: realClock, input: { id: 'r', deadline: 30_000, close: () => {} } });
    let error: unknown;
    actor.subscribe({ error: (e) => (error = e) });
    actor.start();
    expect(error).toBeInstanceOf(TypeError);
  });

  it('reports a failing close to console.error by default, with the id', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const clock = new SimulatedClock();
    const failure = new Error('close failed');
    createActor(expirationMachine, {
      clock,
      input: {
        id: 'f',
        deadline: 1,
        close: () => {
          throw failure;
        },
      },
    }).start();
    clock.increment(1);
    await flush();
    expect(logged).toHaveBeenCalledWith('xstate-expire: close of "f" failed:', failure);
  });

  it.each([
    ['no input', undefined, /expected \{ id, deadline, close \}/],
    ['an empty id', { id: '', deadline: 1, close: () => {} }, /id must be a non-empty string/],
    ['no close', { id: 'x', deadline: 1 }, /close must be a function/],
    ['a NaN deadline', { id: 'x', deadline: Number.NaN, close: () => {} }, /deadline must be/],
    ['an invalid Date', { id: 'x', deadline: new Date(Number.NaN), close: () => {} }, /got an invalid Date/],
    ['a negative ttlMs', { id: 'x', deadline: { ttlMs: -1 }, close: () => {} }, /deadline must be/],
    ['an infinite ttlMs', { id: 'x', deadline: { ttlMs: Infinity }, close: () => {} }, /deadline must be/],
    ['a string deadline', { id: 'x', deadline: '10', close: () => {} }, /deadline must be/],
    ['an executor without asyncExec', { id: 'x', deadline: 1, close: () => {}, executor: {} }, /asyncExec/],
    ['a non-function executorFor', { id: 'x', deadline: 1, close: () => {}, executorFor: 1 }, /executorFor must be a function/],
    ['a non-function onCloseError', { id: 'x', deadline: 1, close: () => {}, onCloseError: 'log' }, /onCloseError/],
    ['a clock without now()', { id: 'x', deadline: 1, close: () => {}, clock: { setTimeout() {}, clearTimeout() {} } }, /now\(\)/],
  ])('%s is a TypeError the actor fails with, and nothing runs', async (_name, input, message) => {
    const clock = new SimulatedClock();
    const close = vi.fn();
    // The valid closes are spied on, to see that none runs.
    const given = input as Record<string, unknown> | undefined;
    const error = startError(given && { ...given, ...(given['close'] ? { close } : {}) }, clock);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(message);
    clock.increment(10);
    await flush();
    expect(close).not.toHaveBeenCalled();
  });

  it('a pure transition (initialTransition) has XState’s default clock: the input clock is the one it reads', () => {
    const clock = { now: () => 7, setTimeout: () => 0, clearTimeout: () => {} };
    const [snapshot] = initialTransition(expirationMachine, { id: 'p', deadline: { ttlMs: 3 }, close: () => {}, clock });
    expect(snapshot.context.deadline).toBe(10);
    expect(snapshot.context.clock).toBe(clock);
  });
});

describe('stopped while closing or queued', () => {
  it('stopping the actor aborts the running close’s signal with ACTOR_STOPPED; a later failure is still reported', async () => {
    const { runs, close } = heldClose();
    const { clock, actor, errors } = embedded({ close });
    clock.increment(10);
    await flush();
    expect(runs).toHaveLength(1);
    expect(runs[0]!.signal.aborted).toBe(false);
    actor.stop();
    expect(runs[0]!.signal.reason).toBe(ACTOR_STOPPED);
    expect(actor.getSnapshot().status).toBe('stopped');
    const failure = new Error('close failed after the stop');
    runs[0]!.done.reject(failure);
    await flush();
    expect(errors).toEqual([failure]);
  });

  it('a close that settled keeps CLOSE_SETTLED; a stop after it changes nothing', async () => {
    const { runs, close } = heldClose();
    const { clock, actor } = embedded({ close });
    clock.increment(10);
    await flush();
    runs[0]!.done.resolve();
    await flush();
    actor.stop();
    expect(runs[0]!.signal.reason).toBe(CLOSE_SETTLED);
  });

  it('a close queued on a busy executor never runs once the actor is stopped', async () => {
    const { executor, release } = heldExecutor();
    const { runs, close } = heldClose();
    const { clock, actor } = embedded({ close, executor });
    clock.increment(10);
    expect(actor.getSnapshot().value).toEqual({ expired: 'queued' });
    actor.stop();
    release();
    await flush();
    await executor.asyncExec(() => {}); // everything queued before has run
    expect(runs).toEqual([]);
  });

  it('a parent leaving the invoking state stops the expiration: its running close aborts with ACTOR_STOPPED', async () => {
    const { runs, close } = heldClose();
    const clock = new SimulatedClock();
    const parent = setup({ actors: { expiration: expirationMachine } }).createMachine({
      initial: 'open',
      states: {
        open: {
          invoke: { id: 'lease', src: 'expiration', input: { id: 'lease', deadline: 10, close } },
          on: { leave: 'left' },
        },
        left: {},
      },
    });
    const app = createActor(parent, { clock }).start();
    const lease = app.getSnapshot().children.lease as AnyActorRef;
    clock.increment(10);
    await flush();
    expect(runs).toHaveLength(1);
    app.send({ type: 'leave' });
    expect(runs[0]!.signal.reason).toBe(ACTOR_STOPPED);
    expect(lease.getSnapshot().status).toBe('stopped');
    app.stop();
  });

  it('stopping the whole system aborts every running close, and a queued one never runs', async () => {
    const running = heldClose();
    const queued = heldClose();
    const { executor, release } = heldExecutor();
    const clock = new SimulatedClock();
    const parent = setup({ actors: { expiration: expirationMachine } }).createMachine({
      invoke: [
        { id: 'a', src: 'expiration', input: { id: 'a', deadline: 10, close: running.close } },
        { id: 'b', src: 'expiration', input: { id: 'b', deadline: 10, close: queued.close, executor } },
      ],
    });
    const app = createActor(parent, { clock }).start();
    clock.increment(10);
    await flush();
    expect(running.runs).toHaveLength(1);
    app.stop();
    expect(running.runs[0]!.signal.reason).toBe(ACTOR_STOPPED);
    release();
    await flush();
    await executor.asyncExec(() => {});
    expect(queued.runs).toEqual([]);
  });

  it('a bad input of an invoked expiration reaches the parent’s onError as the TypeError', () => {
    const clock = new SimulatedClock();
    const parent = setup({
      types: { context: {} as { error: unknown } },
      actors: { expiration: expirationMachine },
    }).createMachine({
      context: { error: undefined },
      invoke: {
        src: 'expiration',
        input: { id: 'bad', deadline: Number.NaN, close: () => {} },
        onError: { actions: ({ event }) => void Object.assign(seen, { error: event.error }) },
      },
    });
    const seen: { error?: unknown } = {};
    const app = createActor(parent, { clock }).start();
    expect(seen.error).toBeInstanceOf(TypeError);
    app.stop();
  });
});
