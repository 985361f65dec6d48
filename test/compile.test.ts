import { and, assign, createMachine, enqueueActions, raise, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { UnsupportedMachineError, compileMachine, expirationMachine } from '../src/index.js';

describe('compileMachine', () => {
  const table = compileMachine(expirationMachine);
  const leaf = (path: string) => table.leaves.find((l) => l.path === path)!;
  const target = (path: string, event: string, candidate = 0) =>
    table.leaves[leaf(path).on.get(event)![candidate]!.target]!.path;
  const ops = (path: string, event: string, candidate = 0) =>
    leaf(path).on.get(event)![candidate]!.ops.map((op) => (op.kind === 'assign' || op.kind === 'effect' ? `${op.kind}:${op.name}` : op.kind));

  it('has a row per leaf state, in document order, with its value, top state and final flag', () => {
    expect(table.leaves.map((l) => [l.path, l.value, l.top, l.final])).toEqual([
      ['active', 'active', 'active', false],
      ['paused', 'paused', 'paused', false],
      ['expired.queued', { expired: 'queued' }, 'expired', false],
      ['expired.closing', { expired: 'closing' }, 'expired', false],
      ['expired.retrying', { expired: 'retrying' }, 'expired', false],
      ['failed', 'failed', 'failed', false],
      ['closed', 'closed', 'closed', true],
      ['deleted', 'deleted', 'deleted', true],
    ]);
    expect(leaf('closed').output).toEqual({ closed: true });
    expect(leaf('deleted').output).toEqual({ closed: false });
  });

  it('starts in active with the deadline armed', () => {
    expect(table.leaves[table.initial.target]!.path).toBe('active');
    expect(table.initial.ops.map((op) => op.kind)).toEqual(['schedule']);
    expect(leaf('active').delayed).toBe('xstate.after.deadline.expiration.active');
    // A pause times out too (pauseTimeoutMs); without one its guard ends nothing.
    expect(leaf('paused').delayed).toBe('xstate.after.pauseTimeout.expiration.paused');
    const timeout = leaf('paused').on.get('xstate.after.pauseTimeout.expiration.paused')!;
    expect(timeout.map((t) => t.guard?.name)).toEqual(['pauseLimited']);
    expect(timeout[0]!.guard!.test).toBe(expirationMachine.implementations.guards.pauseLimited);
    expect(target('paused', 'xstate.after.pauseTimeout.expiration.paused')).toBe('active');
  });

  it('keeps guarded candidates in the order XState tries them', () => {
    const deadline = leaf('active').on.get('xstate.after.deadline.expiration.active')!;
    expect(deadline.map((t) => t.guard?.name)).toEqual(['deadlineReached', undefined]);
    expect(target('active', 'xstate.after.deadline.expiration.active', 0)).toBe('expired.queued');
    expect(target('active', 'xstate.after.deadline.expiration.active', 1)).toBe('active');
    expect(deadline[0]!.guard!.test).toBe(expirationMachine.implementations.guards.deadlineReached);
  });

  it('records exit, transition and entry operations in XState’s order', () => {
    expect(ops('active', 'renew')).toEqual(['cancel', 'assign:renew', 'schedule']);
    // Entering paused arms its timeout; another stop re-enters it, restarting the timeout.
    expect(ops('active', 'stop')).toEqual(['cancel', 'schedule']);
    expect(ops('paused', 'stop')).toEqual(['cancel', 'schedule']);
    expect(target('paused', 'stop')).toBe('paused');
    expect(ops('paused', 'start')).toEqual(['cancel', 'schedule']);
    expect(ops('paused', 'xstate.after.pauseTimeout.expiration.paused')).toEqual(['cancel', 'schedule']);
    expect(ops('paused', 'expire')).toEqual(['cancel', 'effect:queueClose']);
    expect(ops('expired.queued', 'close')).toEqual(['assign:startAttempt', 'effect:notifyClosing', 'effect:runClose', 'schedule']);
    expect(ops('expired.closing', 'dispose')).toEqual(['cancel', 'effect:abortClose']);
    expect(ops('expired.closing', 'failed', 0)).toEqual(['cancel', 'assign:recordFailure', 'effect:rejoin', 'schedule']);
    expect(ops('expired.closing', 'failed', 1)).toEqual(['cancel', 'assign:recordFailure', 'effect:rejoin']);
    expect(ops('expired.closing', 'xstate.after.closeTimeout.expiration.expired.closing')).toEqual(['effect:timeoutClose']);
    expect(ops('expired.retrying', 'xstate.after.backoff.expiration.expired.retrying')).toEqual(['cancel', 'effect:queueClose']);
    expect(ops('failed', 'retry')).toEqual(['assign:resetAttempts', 'effect:queueClose']);
  });

  it('leaves out what a state ignores (R4) and final states take nothing', () => {
    expect([...leaf('expired.queued').on.keys()].sort()).toEqual(['close', 'delete', 'dispose', 'refused', 'renew']);
    expect(leaf('closed').on.size).toBe(0);
    expect(leaf('deleted').on.size).toBe(0);
  });

  it('compiles once per machine', () => {
    expect(compileMachine(expirationMachine)).toBe(table);
    const other = expirationMachine.provide({});
    expect(compileMachine(other)).not.toBe(table);
    expect(compileMachine(other).leaves.map((l) => l.path)).toEqual(table.leaves.map((l) => l.path));
  });

  it('answers what XState answers for a machine of its own, assign included', () => {
    const counter = setup({
      types: { context: {} as { n: number }, events: {} as { type: 'inc' } | { type: 'reset' } },
      actions: { inc: assign({ n: ({ context }) => context.n + 1 }) },
      guards: { small: ({ context }) => context.n < 2 },
    }).createMachine({
      context: { n: 0 },
      initial: 'counting',
      states: {
        counting: { on: { inc: [{ guard: 'small', actions: 'inc', target: 'counting' }, { target: 'full' }] } },
        full: { on: { reset: 'counting' } },
      },
    });
    const t = compileMachine(counter);
    const counting = t.leaves.find((l) => l.path === 'counting')!;
    expect(counting.on.get('inc')!.map((c) => [c.guard?.name, t.leaves[c.target]!.path, c.ops.map((o) => o.kind)])).toEqual([
      ['small', 'counting', ['assign']],
      [undefined, 'full', []],
    ]);
  });

  describe('names the feature and the state it does not support', () => {
    const unsupported: Array<[string, () => unknown, string, string]> = [
      ['parallel states', () => createMachine({ type: 'parallel', states: { a: {}, b: {} } }), 'parallel states', '(machine)'],
      [
        'history states',
        () => createMachine({ initial: 'a', states: { a: { on: { back: 'h' } }, h: { type: 'history' } } }),
        'history states',
        '(machine).h',
      ],
      ['always', () => createMachine({ initial: 'a', states: { a: { always: 'b' }, b: {} } }), 'always', '(machine).a'],
      [
        'invoke',
        () => createMachine({ initial: 'a', states: { a: { invoke: { src: createMachine({}) } } } }),
        'invoked actors',
        '(machine).a',
      ],
      [
        'inline actions',
        () => createMachine({ initial: 'a', states: { a: { entry: () => {} } } }),
        'inline actions',
        '(machine).a',
      ],
      [
        'unknown actions',
        () => createMachine({ initial: 'a', states: { a: { on: { go: { actions: 'nowhere' } } } } }),
        'the unknown action "nowhere"',
        '(machine).a',
      ],
      [
        'guard combinators',
        () =>
          setup({ guards: { yes: () => true } }).createMachine({
            initial: 'a',
            states: { a: { on: { go: { guard: and(['yes', 'yes']), target: 'b' } } }, b: {} },
          }),
        'guard combinators',
        '(machine).a',
      ],
      [
        'inline guards',
        () => createMachine({ initial: 'a', states: { a: { on: { go: { guard: () => true, target: 'b' } } }, b: {} } }),
        'inline guards',
        '(machine).a',
      ],
      [
        'named built-in actions other than assign',
        () =>
          setup({ actions: { both: enqueueActions(() => {}) } }).createMachine({
            initial: 'a',
            states: { a: { on: { go: { actions: 'both' } } } },
          }),
        'xstate.enqueueActions',
        '(machine).a',
      ],
      [
        'raised events',
        () =>
          setup({ actions: { again: raise({ type: 'go' }) } }).createMachine({
            initial: 'a',
            states: { a: { on: { go: { actions: 'again' } } } },
          }),
        'xstate.raise',
        '(machine).a',
      ],
      [
        'more than one after delay at a time',
        () => createMachine({ initial: 'a', states: { a: { after: { 10: 'b', 20: 'b' } }, b: {} } }),
        'more than one active after delay',
        '(machine).a',
      ],
      [
        'wildcard events',
        () => createMachine({ initial: 'a', states: { a: { on: { '*': 'b' } }, b: {} } }),
        'wildcard events',
        '(machine).a',
      ],
    ];
    for (const [what, machine, feature, state] of unsupported) {
      it(what, () => {
        let error: unknown;
        try {
          compileMachine(machine() as never);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(UnsupportedMachineError);
        expect((error as UnsupportedMachineError).feature).toContain(feature);
        expect((error as UnsupportedMachineError).state).toBe(state);
        expect((error as Error).message).toContain(`"${state}"`);
      });
    }
  });
});
