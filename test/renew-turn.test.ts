/**
 * Among entities whose deadlines are equal, closes run in the order the
 * deadlines were armed. An entity renewed to a later deadline goes behind
 * those armed since, as a new timer would: on records (whose heap node stays
 * at its old slot and moves when that comes up) exactly as on live actors
 * (whose old timer is cancelled and a new one armed), and on a mix.
 */
import { describe, expect, it } from 'vitest';
import { flush, managerOnSimulatedClock } from './helpers.js';

/** Which of the entities a, b, c are made live actors as they are created. */
const engines = [
  ['records', []],
  ['live actors', ['a', 'b', 'c']],
  ['a mix: a live actor', ['a']],
  ['a mix: b and c live actors', ['b', 'c']],
] as const;

describe.each(engines)('an entity renewed to a later deadline, on %s', (_name, live) => {
  function setup() {
    const world = managerOnSimulatedClock({ inspect: undefined });
    const { manager, close } = world;
    const create = (id: string, deadline: number) => {
      manager.new(id, deadline, close(id));
      if ((live as readonly string[]).includes(id)) manager.actorOf(id);
    };
    const order = () => world.closes.map((c) => `${c.id}@${c.at}`);
    return { ...world, create, order };
  }

  it('goes behind the entities armed for that time since', async () => {
    const { clock, manager, close, create, order } = setup();
    create('a', 50);
    create('b', 100);
    manager.new('a', 100, close('a')); // renewed: after b, before c
    create('c', 100);
    clock.increment(50);
    await flush();
    expect(order()).toEqual([]);
    clock.increment(50);
    await flush();
    expect(order()).toEqual(['b@100', 'a@100', 'c@100']);
  });

  it('the same when the renewal ends an update (stop, then new)', async () => {
    const { clock, manager, close, create, order } = setup();
    create('a', 50);
    create('b', 100);
    expect(manager.stop('a')).toBe(true);
    clock.increment(10);
    manager.new('a', 100, close('a'));
    create('c', 100);
    clock.increment(90);
    await flush();
    expect(order()).toEqual(['b@100', 'a@100', 'c@100']);
  });

  it('and an entity renewed twice takes the turn of its last renewal', async () => {
    const { clock, manager, close, create, order } = setup();
    create('a', 50);
    create('b', 100);
    manager.new('a', 80, close('a'));
    create('c', 100);
    manager.new('a', 100, close('a')); // after c now
    clock.increment(100);
    await flush();
    expect(order()).toEqual(['b@100', 'c@100', 'a@100']);
  });
});
