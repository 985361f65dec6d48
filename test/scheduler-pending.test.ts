/**
 * installScheduler keeps an actor's single pending delayed event bare, and a
 * Map only beyond one: both shapes, on every path in and out.
 */
import { type AnyActorRef, createActor, createMachine, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { installScheduler } from '../src/manager/scheduler.js';
import { countingClock } from './helpers.js';

const machine = createMachine({
  initial: 'waiting',
  states: {
    waiting: { after: { 100: 'timedOut' }, on: { STOP: 'done', AGAIN: { target: 'waiting', reenter: true } } },
    timedOut: {},
    done: { type: 'final' },
  },
});

function system() {
  const { clock, inner, pending } = countingClock(new SimulatedClock());
  const parent = createActor(createMachine({}), { clock });
  const scheduler = installScheduler(parent.system);
  parent.start();
  const child = () => createActor(machine, { parent: parent as AnyActorRef, clock }).start();
  return { inner, pending, child, scheduler, parent };
}

describe('installScheduler: an actor with exactly one pending event', () => {
  it('stopped, it cancels that event: nothing stays pending and nothing fires', () => {
    const { inner, pending, child } = system();
    const a = child();
    const b = child();
    expect(pending.size).toBe(2);
    a.system.scheduler.cancelAll(a); // what XState calls when an actor stops
    expect(pending.size).toBe(1);
    inner.increment(100);
    expect(a.getSnapshot().value).toBe('waiting');
    expect(b.getSnapshot().value).toBe('timedOut');
    expect(pending.size).toBe(0);
  });

  it('reaching a final state cancels it too', () => {
    const { pending, child } = system();
    const a = child();
    a.send({ type: 'STOP' });
    expect(a.getSnapshot().status).toBe('done');
    expect(pending.size).toBe(0);
  });

  it('re-entering its state replaces the event: one pending, due from the re-entry', () => {
    const { inner, pending, child } = system();
    const a = child();
    inner.increment(60);
    a.send({ type: 'AGAIN' });
    expect(pending.size).toBe(1);
    inner.increment(60);
    expect(a.getSnapshot().value).toBe('waiting');
    inner.increment(40);
    expect(a.getSnapshot().value).toBe('timedOut');
    expect(pending.size).toBe(0);
  });

  it('handleOf shows the pending handle under its id only, and nothing once it fired', () => {
    const { inner, pending, child, scheduler } = system();
    const a = child();
    const id = 'xstate.after.100.(machine).waiting';
    expect(scheduler.handleOf(a, id)).toBe([...pending][0]);
    expect(scheduler.handleOf(a, 'another')).toBeUndefined();
    inner.increment(100);
    expect(scheduler.handleOf(a, id)).toBeUndefined();
  });

  it('cancel of an id it does not have leaves its event pending', () => {
    const { inner, pending, child } = system();
    const a = child();
    a.system.scheduler.cancel(a, 'another');
    expect(pending.size).toBe(1);
    inner.increment(100);
    expect(a.getSnapshot().value).toBe('timedOut');
  });

  it('a second event makes two pending, each cancelled or fired on its own', () => {
    const { inner, pending, child, scheduler } = system();
    const a = child();
    a.system.scheduler.schedule(a, a, { type: 'STOP' }, 50, 'stop');
    expect(pending.size).toBe(2);
    expect(scheduler.handleOf(a, 'stop')).toBeDefined();
    a.system.scheduler.cancel(a, 'stop');
    expect(pending.size).toBe(1);
    expect(scheduler.handleOf(a, 'stop')).toBeUndefined();
    a.system.scheduler.schedule(a, a, { type: 'STOP' }, 50, 'stop');
    inner.increment(50);
    expect(a.getSnapshot().status).toBe('done');
    expect(pending.size).toBe(0);
  });
});

describe('installScheduler: what a user of the actor system sees', () => {
  it('an event scheduled again under the same id replaces the pending one', () => {
    const { inner, pending, child } = system();
    const a = child();
    a.system.scheduler.schedule(a, a, { type: 'STOP' }, 50, 'stop');
    a.system.scheduler.schedule(a, a, { type: 'STOP' }, 80, 'stop');
    expect(pending.size).toBe(2); // the after event and one 'stop'
    inner.increment(50);
    expect(a.getSnapshot().status).toBe('active');
    inner.increment(30);
    expect(a.getSnapshot().status).toBe('done');
  });

  it('an inspector sees who sent a delayed event', () => {
    const { clock, inner } = countingClock(new SimulatedClock());
    const seen: Array<{ type: string; source: unknown; target: unknown }> = [];
    const parent = createActor(createMachine({}), {
      clock,
      inspect: (e) => {
        if (e.type === '@xstate.event' && e.event.type.startsWith('xstate.after.')) {
          seen.push({ type: e.event.type, source: e.sourceRef, target: e.actorRef });
        }
      },
    });
    installScheduler(parent.system);
    parent.start();
    const a = createActor(machine, { parent: parent as AnyActorRef, clock }).start();
    inner.increment(100);
    expect(seen).toEqual([{ type: 'xstate.after.100.(machine).waiting', source: a, target: a }]);
  });
});
