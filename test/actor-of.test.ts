import { describe, expect, it } from 'vitest';
import { SerialExecutor } from '../src/index.js';
import { modelState } from '../src/testing/index.js';
import { deferred, flush, managerOnSimulatedClock } from './helpers.js';

describe('actorOf: an entity as a live XState actor, on demand', () => {
  it('is undefined for an unknown id and a TypeError for a bad one', () => {
    const { manager } = managerOnSimulatedClock();
    expect(manager.actorOf('nobody')).toBeUndefined();
    expect(() => manager.actorOf('')).toThrow(TypeError);
    expect(manager.size()).toBe(0);
  });

  it('returns the same actor on later calls: a child of the manager, under the entity’s id, in its state', () => {
    const { manager, close } = managerOnSimulatedClock();
    manager.new('a', 100, close('a'));
    manager.stop('a');
    const actor = manager.actorOf('a')!;
    expect(actor.id).toBe('a');
    expect(actor._parent).toBe(manager.actor);
    expect(manager.actorOf('a')).toBe(actor);
    expect(actor.getSnapshot().value).toBe('paused');
    expect(actor.getSnapshot().context).toMatchObject({ id: 'a', deadline: 100, generation: 0 });
    expect(manager.state('a')).toBe('paused');
  });

  it('takes the pending deadline with it: not a tick early, not a tick late', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    manager.new('a', 100, close('a'));
    clock.increment(40);
    const actor = manager.actorOf('a')!;
    clock.increment(59);
    await flush();
    expect(actor.getSnapshot().value).toBe('active');
    clock.increment(1);
    await flush();
    expect(closes.map((c) => c.at)).toEqual([100]);
    expect(modelState(actor.getSnapshot())).toBe('closed');
    expect(manager.has('a')).toBe(false);
  });

  it('shows every later step to a subscriber, until the entity closes', async () => {
    const { clock, manager, close } = managerOnSimulatedClock();
    manager.new('a', 100, close('a'));
    manager.new('a', 200, close('a')); // a renewal before: the actor starts from generation 1
    const actor = manager.actorOf('a')!;
    const seen: string[] = [];
    actor.subscribe((snapshot) => void seen.push(`${modelState(snapshot)}#${snapshot.context.generation}`));
    manager.stop('a');
    clock.increment(150);
    manager.start('a'); // the same deadline: 200
    manager.new('a', 300, close('a'));
    clock.increment(150);
    await flush();
    expect(seen).toEqual([
      'paused#1',
      'active#1',
      'active#2',
      'expired.queued#2',
      'expired.closing#2',
      'closed#2',
    ]);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('materialized while its close is queued: the close runs through the actor, once', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    const executor = new SerialExecutor();
    const busy = deferred();
    void executor.asyncExec(() => busy.promise);
    manager.new('a', 10, close('a'), { executor });
    clock.increment(10);
    await flush();
    expect(manager.state('a')).toBe('expired');
    const actor = manager.actorOf('a')!;
    expect(modelState(actor.getSnapshot())).toBe('expired.queued');
    busy.resolve();
    await flush();
    expect(closes).toHaveLength(1);
    expect(closes[0]!.signal.aborted).toBe(true);
    expect(modelState(actor.getSnapshot())).toBe('closed');
    expect(manager.has('a')).toBe(false);
    expect(manager.actor.getSnapshot().context.engine.closingCount).toBe(0);
  });

  it('is gone with its entity: a new entity of the same id rests as a record until asked for again', async () => {
    const { manager, close } = managerOnSimulatedClock();
    manager.new('a', 100, close('a'));
    const first = manager.actorOf('a')!;
    expect(manager.delete('a')).toBe(true);
    expect(modelState(first.getSnapshot())).toBe('deleted');
    expect(manager.actorOf('a')).toBeUndefined();
    manager.new('a', 100, close('a'));
    const second = manager.actorOf('a')!;
    expect(second).not.toBe(first);
    expect(second.getSnapshot().value).toBe('active');
  });

  it('dispose ends materialized actors too, aborting a running close', async () => {
    const { clock, manager, closes, close } = managerOnSimulatedClock();
    const running = deferred();
    manager.new('a', 10, close('a', () => running.promise));
    manager.new('b', 1000, close('b'));
    const a = manager.actorOf('a')!;
    const b = manager.actorOf('b')!;
    clock.increment(10);
    await flush();
    expect(modelState(a.getSnapshot())).toBe('expired.closing');
    const disposed = manager.dispose();
    expect(closes[0]!.signal.aborted).toBe(true);
    expect(modelState(a.getSnapshot())).toBe('closed');
    expect(modelState(b.getSnapshot())).toBe('deleted');
    running.resolve();
    await disposed;
  });
});
