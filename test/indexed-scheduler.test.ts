import { createActor, createMachine, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { indexScheduler } from '../src/index.js';

describe('indexScheduler', () => {
  const machine = createMachine({
    initial: 'waiting',
    states: {
      waiting: { after: { 100: 'late', 50: 'early' }, on: { STOP: 'done' } },
      early: {},
      late: {},
      done: { type: 'final' },
    },
  });

  it('keeps delayed transitions working and cancels them when the actor stops', () => {
    const clock = new SimulatedClock();
    const parent = createActor(createMachine({}), { clock });
    indexScheduler(parent.system);
    parent.start();
    const a = createActor(machine, { parent, clock });
    const b = createActor(machine, { parent, clock });
    a.start();
    b.start();
    a.send({ type: 'STOP' }); // final: stopping cancels only a's timers
    expect(parent.system.getSnapshot()._scheduledEvents).toSatisfy(
      (events: Record<string, { source: unknown }>) => Object.values(events).every((e) => e.source === b),
    );
    clock.increment(50);
    expect(b.getSnapshot().value).toBe('early');
    expect(a.getSnapshot().value).toBe('done');
    expect(Object.keys(parent.system.getSnapshot()._scheduledEvents)).toHaveLength(0);
  });

  it('cancelAll cancels every pending event of that actor', () => {
    const clock = new SimulatedClock();
    const root = createActor(machine, { clock });
    indexScheduler(root.system);
    root.start();
    expect(Object.keys(root.system.getSnapshot()._scheduledEvents)).toHaveLength(2);
    root.system.scheduler.cancelAll(root);
    expect(Object.keys(root.system.getSnapshot()._scheduledEvents)).toHaveLength(0);
    clock.increment(1000);
    expect(root.getSnapshot().value).toBe('waiting');
  });
});
