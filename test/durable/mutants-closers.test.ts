/**
 * The `closers` option as a durable manager reads it (`toClosers`): what each
 * closer becomes (its function and policy), and the TypeError for each bad
 * shape, naming the closer and the field.
 */
import { describe, expect, it } from 'vitest';
import { DURABLE_CLOSE_TIMEOUT_MS, DURABLE_RETRY, toClosers } from '../../src/durable/closers.js';

const refused = (closers: unknown) => {
  try {
    toClosers('createDurableExpireManager', closers);
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${String(closers)}`);
};

describe('toClosers', () => {
  it('a bare function gets the durable defaults; { close, retry, closeTimeoutMs } its own policy, defaults filling the rest', () => {
    const lease = () => {};
    const session = () => {};
    const audit = () => {};
    const closers = toClosers('m', { lease, session: { close: session, retry: { attempts: 2 }, closeTimeoutMs: 1_000 }, audit: { close: audit } });
    expect([...closers.keys()]).toEqual(['lease', 'session', 'audit']);
    expect(closers.get('lease')).toEqual({ close: lease, retry: DURABLE_RETRY, closeTimeoutMs: DURABLE_CLOSE_TIMEOUT_MS });
    expect(closers.get('lease')!.close).toBe(lease);
    expect(closers.get('session')).toEqual({
      close: session,
      retry: { attempts: 2, backoffMs: DURABLE_RETRY.backoffMs, maxBackoffMs: DURABLE_RETRY.maxBackoffMs },
      closeTimeoutMs: 1_000,
    });
    expect(closers.get('session')!.close).toBe(session);
    expect(closers.get('audit')).toEqual({ close: audit, retry: DURABLE_RETRY, closeTimeoutMs: DURABLE_CLOSE_TIMEOUT_MS });
    expect(DURABLE_CLOSE_TIMEOUT_MS).toBe(300_000);
    expect(DURABLE_RETRY).toEqual({ attempts: 5, backoffMs: 1_000, maxBackoffMs: 60_000 });
  });

  it('no closer at all: a TypeError with an example, for every shape that names none', () => {
    const none = 'createDurableExpireManager: closers must name at least one closer: { lease: (entity, signal) => … }';
    // A function with a closer as a property is still no object of closers.
    for (const closers of [undefined, null, {}, 'lease', 5, Object.assign(() => {}, { lease: () => {} })]) {
      expect(refused(closers), String(closers)).toBe(none);
    }
  });

  it('a closer that is neither a function nor { close }: a TypeError naming it', () => {
    for (const spec of [null, 'close', 5, {}, { close: 'no' }]) {
      expect(refused({ lease: () => {}, session: spec }), String(spec)).toBe(
        'createDurableExpireManager: closers.session must be a function or { close, retry?, closeTimeoutMs? }',
      );
    }
  });

  it('a bad retry or closeTimeoutMs: a TypeError naming the closer and the field', () => {
    expect(refused({ lease: { close: () => {}, retry: { attempts: 0 } } })).toBe(
      'createDurableExpireManager: closers.lease: retry.attempts must be an integer from 1 to 1000, got 0',
    );
    expect(refused({ lease: { close: () => {}, closeTimeoutMs: 0 } })).toMatch(
      /^createDurableExpireManager: closers\.lease: closeTimeoutMs must be a number of ms from 1/,
    );
  });
});
