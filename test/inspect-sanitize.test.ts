/**
 * The inspector sanitizers on their own, as `@statelyai/inspect` calls them:
 * before anything is serialized.
 */
import { SimulatedClock, createActor, createMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createExpireManager, inspectSanitizers, sanitizeContext, sanitizeEvent } from '../src/index.js';

describe('sanitizeContext', () => {
  it('makes the manager’s context its small view, before any serialization', () => {
    const manager = createExpireManager({ clock: new SimulatedClock() });
    manager.new('a', 10, () => {});
    manager.new('b', 10, () => {});
    expect(sanitizeContext(manager.actor.getSnapshot().context as never)).toEqual({ size: 2, ids: ['a', 'b'], closing: 0 });
  });

  it('makes an expiration’s context its id and deadline', () => {
    const manager = createExpireManager({ clock: new SimulatedClock() });
    manager.new('a', 10, () => {});
    const context = manager.actorOf('a')!.getSnapshot().context;
    expect(sanitizeContext(context as never)).toEqual({ id: 'a', deadline: 10 });
  });

  it('passes any other context through, as it is', () => {
    const other = { id: 'x', deadline: '10' };
    expect(sanitizeContext(other)).toBe(other);
    const withToJSON = { toJSON: () => 'x' };
    expect(sanitizeContext(withToJSON)).toBe(withToJSON);
    const lookalike = { engine: {}, toJSON: () => 'x' };
    expect(sanitizeContext(lookalike)).toBe(lookalike);
    const noId = { deadline: 10 };
    expect(sanitizeContext(noId)).toBe(noId);
    for (const value of [undefined, null, 0, 'text']) expect(sanitizeContext(value as never)).toBe(value);
  });
});

describe('sanitizeEvent', () => {
  it('replaces actor refs by their ids, drops functions and promises, keeps the rest', () => {
    const ref = createActor(createMachine({}), { id: 'child' });
    const event = {
      type: 'expiration.closing',
      ref,
      settled: Promise.resolve(),
      close: () => {},
      id: 'a',
      n: 1,
      flag: false,
      none: null,
      nested: { sessionId: 'x' },
    };
    expect(sanitizeEvent(event)).toEqual({ type: 'expiration.closing', ref: 'child', id: 'a', n: 1, flag: false, none: null, nested: { sessionId: 'x' } });
  });

  it('keeps an object that only looks like part of a ref', () => {
    const half = { send: 'x' };
    expect(sanitizeEvent({ type: 't', half }).half).toBe(half);
  });

  it('is what inspectSanitizers hands an inspector', () => {
    expect(inspectSanitizers).toEqual({ sanitizeContext, sanitizeEvent });
  });
});
