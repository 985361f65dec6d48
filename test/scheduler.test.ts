import { type AnyActorRef, createActor, createMachine, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { installScheduler } from '../src/manager/scheduler.js';
import { countingClock } from './helpers.js';

describe('installScheduler', () => {
  const machine = createMachine({
    initial: 'waiting',
    states: {
      waiting: { after: { 100: 'late', 50: 'early' }, on: { STOP: 'done' } },
      early: { after: { 10: 'later' } },
      later: {},
      late: {},
      done: { type: 'final' },
    },
  });

  function system() {
    const { clock, inner, pending } = countingClock(new SimulatedClock());
    const parent = createActor(createMachine({}), { clock });
    installScheduler(parent.system);
    parent.start();
    const child = () => createActor(machine, { parent: parent as AnyActorRef, clock }).start();
    return { inner, pending, child };
  }

  it('runs delayed transitions, one after another, on the system clock', () => {
    const { inner, pending, child } = system();
    const a = child();
    expect(pending.size).toBe(2);
    inner.increment(50);
    expect(a.getSnapshot().value).toBe('early'); // leaving 'waiting' cancelled the 100 ms one
    expect(pending.size).toBe(1);
    inner.increment(10);
    expect(a.getSnapshot().value).toBe('later');
    expect(pending.size).toBe(0);
  });

  it('cancels only the stopping actor’s delayed events', () => {
    const { inner, pending, child } = system();
    const a = child();
    const b = child();
    a.send({ type: 'STOP' }); // final: the actor stops
    expect(pending.size).toBe(2);
    inner.increment(50);
    expect(b.getSnapshot().value).toBe('early');
    expect(a.getSnapshot().value).toBe('done');
  });

  it('cancelAll cancels every pending event of that actor', () => {
    const { inner, pending, child } = system();
    const a = child();
    a.system.scheduler.cancelAll(a);
    expect(pending.size).toBe(0);
    inner.increment(1000);
    expect(a.getSnapshot().value).toBe('waiting');
  });
});
