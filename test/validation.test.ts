import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createExpireManager } from '../src/index.js';
import { managerOnSimulatedClock } from './helpers.js';

describe('bad input throws a TypeError and changes nothing', () => {
  const close = () => {};
  it.each([
    ['an empty id', () => ['', 10, close]],
    ['a non-string id', () => [42, 10, close]],
    ['a NaN deadline', () => ['a', NaN, close]],
    ['an invalid Date', () => ['a', new Date('nope'), close]],
    ['a string deadline', () => ['a', '10', close]],
    ['a close that is not a function', () => ['a', 10, 'close']],
    ['an executor without asyncExec', () => ['a', 10, close, { executor: {} }]],
    ['a null executor', () => ['a', 10, close, { executor: null }]],
  ])('new with %s', (_name, args) => {
    const { manager } = managerOnSimulatedClock();
    manager.new('kept', 100, close);
    expect(() => (manager.new as (...a: unknown[]) => void)(...args())).toThrow(TypeError);
    expect(manager.size()).toBe(1);
    expect(manager.state('kept')).toBe('active');
    expect(manager.has('a')).toBe(false);
  });

  it('names the problem in the message', () => {
    const { manager } = managerOnSimulatedClock();
    expect(() => manager.new('', 1, close)).toThrow('id must be a non-empty string');
    expect(() => manager.new('a', NaN, close)).toThrow('expiresAt must be a number');
    expect(() => manager.new('a', new Date('x'), close)).toThrow('an invalid Date');
    expect(() => manager.new('a', 1, 1 as never)).toThrow('close must be a function');
  });

  it.each(['stop', 'start', 'expire', 'delete', 'has', 'state'] as const)('%s with a bad id', (method) => {
    const { manager } = managerOnSimulatedClock();
    manager.new('a', 100, close);
    expect(() => (manager[method] as (id: unknown) => unknown)('')).toThrow(TypeError);
    expect(() => (manager[method] as (id: unknown) => unknown)(undefined)).toThrow(TypeError);
    expect(manager.state('a')).toBe('active');
  });

  it.each([
    ['options that are not an object', 42],
    ['a clock without now()', { clock: { setTimeout() {}, clearTimeout() {} } }],
    ['an onCloseError that is not a function', { onCloseError: 'log' }],
    ['a signal that is not an AbortSignal', { signal: {} }],
    ['an inspect that is a string', { inspect: 'yes' }],
  ])('createExpireManager with %s', (_name, options) => {
    expect(() => createExpireManager(options as never)).toThrow(TypeError);
  });

  it('takes SimulatedClock as it is', () => {
    expect(() => createExpireManager({ clock: new SimulatedClock() })).not.toThrow();
  });
});
