/**
 * compileMachine on machines of a user's own: what it refuses, in the words a
 * user reads, and the assign form it runs like XState.
 */
import { and, assign, cancel, createActor, createMachine, raise, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { UnsupportedMachineError, compileMachine, expirationMachine } from '../src/index.js';
import { assignmentOf, delayOf } from '../src/machines/interpret.js';

function refusal(machine: () => unknown): UnsupportedMachineError {
  try {
    compileMachine(machine() as never);
  } catch (error) {
    expect(error).toBeInstanceOf(UnsupportedMachineError);
    return error as UnsupportedMachineError;
  }
  throw new Error('compiled');
}

describe('compileMachine refuses, naming the feature and the state', () => {
  const yes = () => true;
  const cases: Array<[string, () => unknown, string]> = [
    [
      'a guard by a reserved name',
      () => createMachine({ initial: 'a', states: { a: { on: { go: { guard: 'xstate.custom' as never, target: 'a' } } } } }),
      'compileMachine: guard combinators (xstate.custom) is not supported (state "(machine).a")',
    ],
    [
      'guard parameters',
      () =>
        setup({ guards: { yes } }).createMachine({
          initial: 'a',
          states: { a: { on: { go: { guard: { type: 'yes', params: { n: 1 } } as never, target: 'a' } } } },
        }),
      'compileMachine: guard parameters (yes) is not supported (state "(machine).a")',
    ],
    [
      'an unknown guard',
      () => createMachine({ initial: 'a', states: { a: { on: { go: { guard: 'nope' as never, target: 'a' } } } } }),
      'compileMachine: the unknown guard "nope" is not supported (state "(machine).a")',
    ],
    [
      'a combinator under a name',
      () =>
        setup({ guards: { yes, both: and(['yes', 'yes']) } }).createMachine({
          initial: 'a',
          states: { a: { on: { go: { guard: 'both', target: 'a' } } } },
        }),
      'compileMachine: guard combinators ("both") is not supported (state "(machine).a")',
    ],
    [
      'an unknown delay',
      () => createMachine({ initial: 'a', states: { a: { after: { later: 'b' } }, b: {} } }),
      'compileMachine: the unknown delay "later" is not supported (state "(machine).a")',
    ],
    [
      'an output function of a final state',
      () => createMachine({ initial: 'a', states: { a: { type: 'final', output: () => 1 } } }),
      'compileMachine: output functions of final states are not supported (state "(machine).a")',
    ],
  ];
  for (const [what, machine, message] of cases) {
    it(what, () => {
      const error = refusal(machine);
      expect(error.message).toBe(message);
      expect(error.name).toBe('UnsupportedMachineError');
    });
  }

  it('an inline combinator, which carries no name of its own', () => {
    const error = refusal(() =>
      setup({ guards: { yes } }).createMachine({
        initial: 'a',
        states: { a: { on: { go: { guard: and(['yes', 'yes']), target: 'a' } } } },
      }),
    );
    expect(error.message).toBe('compileMachine: guard combinators (unknown) is not supported (state "(machine).a")');
  });

  it('a parallel state below the root, by its own id', () => {
    const error = refusal(() =>
      createMachine({ initial: 'p', states: { p: { type: 'parallel', states: { x: {}, y: {} } } } }),
    );
    expect([error.feature, error.state]).toEqual(['parallel states', '(machine).p']);
  });

  it('a partial wildcard event', () => {
    const error = refusal(() => createMachine({ initial: 'a', states: { a: { on: { 'go.*': 'b' } }, b: {} } }));
    expect(error.message).toBe('compileMachine: wildcard events ("go.*") is not supported (state "(machine).a")');
  });

  it('an inline raise or cancel, which after would otherwise be taken for', () => {
    expect(refusal(() => createMachine({ initial: 'a', states: { a: { entry: raise({ type: 'go' }), on: { go: 'b' } }, b: {} } })).feature).toBe(
      'inline actions (xstate.raise)',
    );
    expect(refusal(() => createMachine({ initial: 'a', states: { a: { entry: cancel('some') } } })).feature).toBe(
      'inline actions (xstate.cancel)',
    );
  });

  it('an inline action says what it is', () => {
    expect(refusal(() => createMachine({ initial: 'a', states: { a: { exit: [() => {}] } } })).feature).toBe(
      'inline actions (function)',
    );
  });

  it('an undefined or null action, which XState keeps in the list', () => {
    const error = refusal(() => createMachine({ initial: 'a', states: { a: { entry: [undefined as never] } } }));
    expect(error.message).toBe('compileMachine: inline actions (undefined) is not supported (state "(machine).a")');
    expect(refusal(() => createMachine({ initial: 'a', states: { a: { exit: [null as never] } } })).feature).toBe(
      'inline actions (object)',
    );
  });

  it('an action provided as undefined, as unknown, in the state that runs it', () => {
    const error = refusal(() => expirationMachine.provide({ actions: { queueClose: undefined as never } }));
    expect([error.feature, error.state]).toEqual(['the unknown action "queueClose"', 'expiration.expired.queued']);
  });

  it('a raise named like after’s own that is not a delayed raise of that event', () => {
    const raises = [
      raise({ type: 'go' }, { id: 'xstate.after.go', delay: 5 }),
      raise({ type: 'xstate.after.go' }, { id: 'xstate.after.go' }),
      raise({ type: 'go' }, { id: 'go', delay: 5 }),
    ];
    for (const entry of raises) {
      const error = refusal(() => createMachine({ initial: 'a', states: { a: { entry, on: { go: 'b' } }, b: {} } }));
      expect([error.feature, error.state]).toEqual(['inline actions (xstate.raise)', '(machine).a']);
    }
  });

  it('a final state below the top level, whose done event would be a second step', () => {
    const nested = (initial: 'x' | 'y') =>
      createMachine({ initial: 'a', states: { a: { initial, states: { x: { on: { go: 'y' } }, y: { type: 'final' } } } } });
    const error = refusal(() => nested('x'));
    expect(error.message).toBe(
      'compileMachine: done events of nested final states are not supported (state "(machine).a.y")',
    );
    expect(refusal(() => nested('y')).message).toBe(error.message);
    expect(() => compileMachine(nested('x'))).toThrow(UnsupportedMachineError);
  });
});

describe('events a state ignores', () => {
  it('an event declared with no transitions is left out', () => {
    const table = compileMachine(createMachine({ initial: 'a', states: { a: { on: { X: [], Y: 'b' } }, b: {} } }));
    expect([...table.leaves[0]!.on.keys()]).toEqual(['Y']);
    expect(table.events).toEqual(['Y']);
  });

  it('a final state takes nothing, though the root declares transitions', () => {
    const table = compileMachine(
      createMachine({ initial: 'a', on: { PING: '.a' }, states: { a: { on: { go: 'b' } }, b: { type: 'final' } } }),
    );
    const [a, b] = table.leaves;
    expect([...a!.on.keys()].sort()).toEqual(['PING', 'go']);
    expect(b!.final).toBe(true);
    expect(b!.on.size).toBe(0);
  });
});

describe('an assign given as an object of values and functions', () => {
  const machine = setup({
    types: { context: {} as { n: number; label: string; last: string }, events: {} as { type: 'inc'; by: number } },
    actions: {
      inc: assign({ n: ({ context, event }) => context.n + event.by, label: 'counted', last: ({ event }) => event.type }),
    },
  }).createMachine({
    context: { n: 1, label: 'new', last: '' },
    initial: 'a',
    states: { a: { on: { inc: { actions: 'inc' } } } },
  });

  it('computes what XState computes: each function of the args, each value as it is', () => {
    const op = compileMachine(machine).leaves[0]!.on.get('inc')![0]!.ops[0]!;
    expect(op.kind).toBe('assign');
    const event = { type: 'inc', by: 2 };
    const partial = assignmentOf(op as Extract<typeof op, { kind: 'assign' }>, { context: { n: 1, label: 'new', last: '' }, event });
    const actor = createActor(machine).start();
    actor.send(event as never);
    expect(partial).toEqual({ n: 3, label: 'counted', last: 'inc' });
    expect(actor.getSnapshot().context).toEqual({ ...partial });
  });
});

describe('a delay given as a number', () => {
  it('is armed for that many milliseconds, as XState arms it', () => {
    const machine = createMachine({ initial: 'a', states: { a: { after: { 100: 'b' } }, b: {} } });
    const table = compileMachine(machine);
    const schedule = table.initial.ops.find((op) => op.kind === 'schedule')!;
    expect(schedule).toMatchObject({ kind: 'schedule', delay: 100, name: undefined });
    expect(delayOf(schedule as Extract<typeof schedule, { kind: 'schedule' }>, { context: undefined, event: undefined })).toBe(100);
  });
});

describe('candidates that can never win', () => {
  const g = () => true;
  it('after an unguarded one, or sharing a guard with an earlier one, are left out', () => {
    const machine = setup({ guards: { g, h: g } }).createMachine({
      initial: 'a',
      states: {
        a: {
          on: {
            go: [{ guard: 'g', target: 'b' }, { guard: 'g', target: 'c' }, { guard: 'h', target: 'c' }, { target: 'd' }, { guard: 'h', target: 'b' }],
          },
        },
        b: {},
        c: {},
        d: {},
      },
    });
    const table = compileMachine(machine);
    const row = table.leaves[0]!.on.get('go')!;
    expect(row.map((t) => [t.guard?.name, table.leaves[t.target]!.path])).toEqual([
      ['g', 'b'],
      ['h', 'c'],
      [undefined, 'd'],
    ]);
  });

  it('the table lists every event some state accepts', () => {
    const table = compileMachine(expirationMachine.provide({}));
    expect([...table.events].sort()).toEqual(
      [
        'close',
        'delete',
        'dispose',
        'expire',
        'failed',
        'reclaim',
        'refused',
        'renew',
        'retry',
        'settled',
        'shutdown',
        'start',
        'stop',
        'superseded',
        'xstate.after.backoff.expiration.expired.retrying',
        'xstate.after.closeTimeout.expiration.expired.closing',
        'xstate.after.deadline.expiration.active',
        'xstate.after.pauseTimeout.expiration.paused',
      ].sort(),
    );
  });
});

describe('a machine of nested states', () => {
  it('gives each leaf the transitions its ancestors declare, and their after delay', () => {
    const machine = createMachine({
      initial: 'a',
      states: {
        a: { initial: 'x', after: { 50: 'b' }, on: { go: 'b' }, states: { x: { on: { next: 'y' } }, y: {} } },
        b: {},
      },
    });
    const table = compileMachine(machine);
    const leaf = (path: string) => table.leaves.find((l) => l.path === path)!;
    expect([...leaf('a.x').on.keys()].sort()).toEqual(['go', 'next', 'xstate.after.50.(machine).a'].sort());
    expect([...leaf('a.y').on.keys()].sort()).toEqual(['go', 'xstate.after.50.(machine).a'].sort());
    expect(leaf('a.y').delayed).toBe('xstate.after.50.(machine).a');
    expect(table.leaves[leaf('a.y').on.get('go')![0]!.target]!.path).toBe('b');
  });

  it('takes a guard given as an object by its name', () => {
    const machine = setup({ guards: { open: () => true } }).createMachine({
      initial: 'a',
      states: { a: { on: { go: { guard: { type: 'open' }, target: 'b' } } }, b: {} },
    });
    const [candidate] = compileMachine(machine).leaves[0]!.on.get('go')!;
    expect(candidate!.guard?.name).toBe('open');
    expect(candidate!.guard?.test({ context: undefined, event: undefined }, undefined)).toBe(true);
  });
});

describe('the table of a machine of your own', () => {
  const leafOf = (table: ReturnType<typeof compileMachine>, path: string) => table.leaves.find((l) => l.path === path)!;

  it('after schedules its event on entry and cancels that same event when the state is left', () => {
    const machine = createMachine({ initial: 'a', states: { a: { after: { 100: 'b' }, on: { go: 'b' } }, b: {} } });
    const table = compileMachine(machine);
    const a = leafOf(table, 'a');
    expect(a.delayed).toMatch(/^xstate\.after\.100\./);
    expect(table.initial.ops).toEqual([{ kind: 'schedule', event: a.delayed, delay: 100, name: undefined }]);
    expect(a.on.get('go')![0]!.ops).toEqual([{ kind: 'cancel', event: a.delayed }]);
    expect(a.on.get(a.delayed!)![0]!.ops).toEqual([{ kind: 'cancel', event: a.delayed }]);
  });

  it('an unguarded candidate ends the row: the ones after it can never win', () => {
    const machine = setup({ guards: { g: () => true } }).createMachine({
      initial: 'a',
      states: { a: { on: { go: [{ target: 'b' }, { target: 'c', guard: 'g' }] } }, b: {}, c: {} },
    });
    const table = compileMachine(machine);
    const row = leafOf(table, 'a').on.get('go')!;
    expect(row.map((t) => [t.guard?.name, table.leaves[t.target]!.path])).toEqual([[undefined, 'b']]);
  });
});
