/**
 * compileMachine where a state and its ancestors take the same event: XState
 * tries the deepest state's transitions first, and the table must choose
 * exactly as XState does, whichever guards pass.
 */
import { type AnyStateMachine, createActor, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { compileMachine } from '../src/index.js';
import { chooseTransition } from '../src/machines/interpret.js';

/** A machine whose guards `g` and `h` answer as given; every level of `a.x` takes `go`. */
function nested(g: boolean, h: boolean, guarded: boolean): AnyStateMachine {
  return setup({ guards: { g: () => g, h: () => h } }).createMachine({
    id: 'm',
    initial: 'a',
    on: { go: '.root' }, // the root's own, tried last
    states: {
      a: {
        initial: 'x',
        on: { go: guarded ? { guard: 'h', target: 'parent' } : 'parent' },
        states: {
          x: { on: { go: guarded ? { guard: 'g', target: 'child' } : 'child' } },
          child: {},
        },
      },
      parent: {},
      root: {},
    },
  });
}

/** Where `go` takes `a.x`: in XState, and by the table's row (the first candidate whose guard passes). */
function targets(machine: AnyStateMachine) {
  const actor = createActor(machine).start();
  actor.send({ type: 'go' });
  const xstate = JSON.stringify(actor.getSnapshot().value);
  actor.stop();
  const table = compileMachine(machine);
  const x = table.leaves.find((leaf) => leaf.path === 'a.x')!;
  const chosen = chooseTransition(x.on.get('go')!, { context: undefined, event: { type: 'go' } });
  const compiled = chosen === undefined ? undefined : JSON.stringify(table.leaves[chosen.target]!.value);
  return { xstate, compiled, row: x.on.get('go')!.map((t) => [t.guard?.name, t.source, table.leaves[t.target]!.path]) };
}

describe('an event that a state and its ancestors all take', () => {
  it('unguarded: the child’s transition, the one XState picks; the ancestors’ can never win', () => {
    const { xstate, compiled, row } = targets(nested(true, true, false));
    expect(xstate).toBe(JSON.stringify({ a: 'child' }));
    expect(compiled).toBe(xstate);
    expect(row).toEqual([[undefined, 'm.a.x', 'a.child']]);
  });

  it('a sibling leaf without one of its own takes its parent’s', () => {
    const table = compileMachine(nested(true, true, false));
    const child = table.leaves.find((leaf) => leaf.path === 'a.child')!;
    expect(child.on.get('go')!.map((t) => [t.source, table.leaves[t.target]!.path])).toEqual([['m.a', 'parent']]);
  });

  it('guarded: child, then parent, then root, in XState’s order', () => {
    expect(targets(nested(true, true, true)).row).toEqual([
      ['g', 'm.a.x', 'a.child'],
      ['h', 'm.a', 'parent'],
      [undefined, 'm', 'root'],
    ]);
  });

  it.each([
    [true, true],
    [true, false],
    [false, true],
    [false, false],
  ])('with g %s and h %s the table takes the transition XState takes', (g, h) => {
    const { xstate, compiled } = targets(nested(g, h, true));
    expect(compiled).toBe(xstate);
    expect(xstate).toBe(JSON.stringify(g ? { a: 'child' } : h ? 'parent' : 'root'));
  });
});
